"""plait-example's components through Plait's contract suites: the checks every built-in passes."""

from __future__ import annotations

import json
from pathlib import Path

from framework.contracts import LoggerContract, ModelContract, SchedulerContract


class TestBagOfEmbeddings(ModelContract):
    key = "bag_of_embeddings"
    kind = "classification"  # tiny sizes: BagOfEmbeddingsConfig.tiny


class TestBestMetrics(LoggerContract):
    key = "best_metrics"

    def test_keeps_the_best_and_its_step(self, tmp_path: Path) -> None:
        from framework import TrainState

        logger = self.build(tmp_path)
        for step, loss in [(2, 0.9), (4, 0.5), (6, 0.7)]:
            logger.on_eval_end(TrainState(step=step), {"val/loss": loss, "val/accuracy": 1 - loss})
        best = json.loads((tmp_path / "best.json").read_text())
        assert best["val/loss"] == {"value": 0.5, "step": 4}
        assert best["val/accuracy"] == {"value": 0.5, "step": 4}


class TestNoam(SchedulerContract):
    key = "noam"
    config = {"warmup_steps": 5}
