"""JSON-lines logger: `metrics.jsonl` in the run directory, one `{"step": ..., "<name>": ...}` object per line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from framework.callback import TrainState
from framework.logger import Logger
from framework.registry import LOGGERS, ComponentConfig


@dataclass
class JsonlLoggerConfig(ComponentConfig):
    """Options of the JSON-lines logger."""

    filename: str = "metrics.jsonl"  # file name inside the run directory


class JsonlLogger(Logger):
    """Appends one JSON object per logging call; on resume, drops rows the checkpoint had not reached."""

    def __init__(self, cfg: JsonlLoggerConfig, run_dir: Path) -> None:
        self.path = run_dir / cfg.filename
        self._fh = None

    def on_fit_start(self, state: TrainState) -> None:
        if state.step > 0 and self.path.exists():  # resumed: forget rows logged after the checkpoint
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= state.step]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif state.step == 0 and self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps({"step": step, **metrics}) + "\n")
        self._fh.flush()

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@LOGGERS.register("jsonl", config=JsonlLoggerConfig)
def build_jsonl(cfg: JsonlLoggerConfig, *, run_dir: Path, config: dict) -> JsonlLogger:
    """Metrics as JSON lines in the run directory (metrics.jsonl)."""
    return JsonlLogger(cfg, run_dir)
