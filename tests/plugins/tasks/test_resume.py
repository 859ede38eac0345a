"""Resume is exact for the new tasks: the data position (epoch, batch in epoch) and the seeded batch order
bring a stopped run back onto the same batches, so N steps straight == k steps + stop + resume to N."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny import LANGUAGE_MODELING, TRANSLATION
from toy_training import KillAfterCheckpoint

from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.run import train
from framework.testing import compose, run_quick


def losses(run_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


@pytest.mark.parametrize(
    "overrides",
    [
        [*LANGUAGE_MODELING, "task.demo_size=60"],  # ~4 batches per epoch: the run crosses epochs
        [*TRANSLATION, "task.demo_size=60", "task.bucket_pool_batches=2"],
    ],
    ids=["language_modeling", "translation"],
)
def test_stop_and_resume_equals_straight(tmp_path: Path, overrides: list[str]) -> None:
    common = [*overrides, "trainer.max_steps=8", "trainer.batch_size=16", "trainer.checkpoint_every_n_steps=3"]
    common += ["trainer.log_every_n_steps=1", "trainer.eval_every_n_steps=0"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_quick(common, straight)
    with pytest.raises(KeyboardInterrupt):
        train(compose(common), resumed, callbacks=[KillAfterCheckpoint(3, KeyboardInterrupt)])
    run_quick([*common, "trainer.resume=auto"], resumed)
    assert losses(straight) == losses(resumed) and len(losses(straight)) == 8
    a = load_state(latest_checkpoint(straight / "checkpoints"))
    b = load_state(latest_checkpoint(resumed / "checkpoints"))
    assert a["data"] == b["data"] and a["data"]["epoch"] >= 1
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
