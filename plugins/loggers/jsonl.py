"""JSON-lines logger: `metrics.jsonl` in the run directory, one `{"step": ..., "<name>": ...}` object per line."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from framework import LOGGERS, ComponentConfig, Logger, TrainState, atomic_write

log = logging.getLogger(__name__)


@dataclass
class JsonlLoggerConfig(ComponentConfig):
    """Options of the JSON-lines logger."""

    filename: str = "metrics.jsonl"  # file name inside the run directory


class JsonlLogger(Logger):
    """Appends one JSON object per logging call; on resume, repairs the file to end at the resumed step.

    The repair writes a new file and renames it over the old one (after fsync), so a kill during the
    repair leaves either the old file or the repaired one, never a truncated one. A torn last line
    (a kill mid-write) and rows after the checkpoint's step are dropped; a row the trainer logs again at
    the resumed step with metrics already recorded there (relaunching a finished run) is not duplicated.
    """

    def __init__(self, cfg: JsonlLoggerConfig, run_dir: Path) -> None:
        self.path = run_dir / cfg.filename
        self._fh: TextIO | None = None
        self._resumed_step: int | None = None
        self._keys_at_resume: set[str] = set()  # metric names already recorded at the resumed step

    def on_fit_start(self, state: TrainState) -> None:
        """Open the file for appending: a fresh run starts it anew, a resumed one repairs it first."""
        if state.step > 0 and self.path.exists():  # resumed: forget rows logged after the checkpoint
            self._repair(state.step)
        elif state.step == 0 and self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)

    def _repair(self, step: int) -> None:
        """Keep the intact rows up to `step`; replace the file with them (atomically) when that changes it."""
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline, else a half-written row
        kept: list[bytes] = []
        dropped = 1 if torn.strip() else 0
        for line in lines:
            try:
                row = json.loads(line)
                row_step = int(row["step"])
            except (ValueError, TypeError, KeyError):
                dropped += 1
                continue
            if row_step <= step:
                kept.append(line + b"\n")
                if row_step == step:
                    self._keys_at_resume.update(k for k in row if k != "step")
        self._resumed_step = step
        if dropped:
            log.warning("%s: dropped %d damaged line(s) (a run killed while writing)", self.path, dropped)
        repaired = b"".join(kept)
        if repaired != raw:
            atomic_write(self.path, repaired)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Append one `{"step": step, **metrics}` row and flush it."""
        if self._fh is None:
            return
        if step == self._resumed_step and metrics.keys() <= self._keys_at_resume:
            return  # already recorded before the resume (a finished run relaunched)
        self._fh.write(json.dumps({"step": step, **metrics}) + "\n")
        self._fh.flush()

    def close(self, state: TrainState, status: str = "finished") -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@LOGGERS.register("jsonl", config=JsonlLoggerConfig)
def build_jsonl(cfg: JsonlLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> JsonlLogger:
    """Metrics as JSON lines in the run directory (metrics.jsonl)."""
    return JsonlLogger(cfg, run_dir)
