"""`logger=best_metrics`: keeps the best value of every validation metric and writes them to best.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework import ComponentConfig, Logger, TrainState


@dataclass
class BestMetricsConfig(ComponentConfig):
    """Options of the best-metrics logger."""

    filename: str = "best.json"  # written into the run directory after every evaluation
    lower_is_better: list[str] = field(default_factory=lambda: ["loss"])  # metrics where lower wins (no prefix)


class BestMetrics(Logger):
    """Best `val/...` values and the step each was reached at. Its state goes into checkpoints, so a resumed
    run keeps the bests it reached before the interruption (a logger's resume duty)."""

    def __init__(self, cfg: BestMetricsConfig, run_dir: Path) -> None:
        self.path = Path(run_dir) / cfg.filename
        self.lower = set(cfg.lower_is_better)
        self.best: dict[str, dict[str, float]] = {}

    def _better(self, name: str, value: float, old: float) -> bool:
        return value < old if name.split("/")[-1] in self.lower else value > old

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            old = self.best.get(name)
            if old is None or self._better(name, value, old["value"]):
                self.best[name] = {"value": float(value), "step": state.step}
        self.path.write_text(json.dumps(self.best, indent=2, sort_keys=True))

    def log_summary(self, summary: dict[str, float | str]) -> None:
        self.path.write_text(json.dumps(self.best, indent=2, sort_keys=True))

    def state_dict(self) -> dict[str, Any]:
        return {"best": {k: dict(v) for k, v in self.best.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = {k: dict(v) for k, v in state.get("best", {}).items()}


def build_best_metrics(cfg: BestMetricsConfig, *, run_dir: Path, config: dict[str, Any]) -> BestMetrics:
    """Best validation metrics and their steps in best.json (plait-example)."""
    return BestMetrics(cfg, run_dir)
