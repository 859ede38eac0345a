"""JSON-lines logger: `metrics.jsonl` in the run directory, one `{"step": ..., "<name>": ...}` object per line;
`samples.jsonl` beside it holds the validation samples of each evaluation."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from framework import ComponentConfig, Logger, TrainState, atomic_write

log = logging.getLogger(__name__)


@dataclass
class JsonlLoggerConfig(ComponentConfig):
    """Options of the JSON-lines logger."""

    filename: str = "metrics.jsonl"  # file name inside the run directory
    samples_filename: str = "samples.jsonl"  # validation samples: one {"step", "name", "rows"} object per evaluation


class JsonlFile:
    """One JSON-lines file of `{"step": ...}` rows, opened for appending; on resume repaired to end at a step.

    The repair writes a new file and renames it over the old one (after fsync), so a kill during the
    repair leaves either the old file or the repaired one, never a truncated one. A torn last line
    (a kill mid-write) and rows after the checkpoint's step are dropped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def start(self, step: int) -> list[dict[str, Any]]:
        """Open for appending: a fresh run (`step` 0) starts anew, a resumed one repairs first; returns the rows
        kept at `step`."""
        at_step: list[dict[str, Any]] = []
        if step > 0 and self.path.exists():  # resumed: forget rows logged after the checkpoint
            at_step = self._repair(step)
        elif step == 0 and self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)
        return at_step

    def _repair(self, step: int) -> list[dict[str, Any]]:
        """Keep the intact rows up to `step`; replace the file with them (atomically) when that changes it."""
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline, else a half-written row
        kept: list[bytes] = []
        at_step: list[dict[str, Any]] = []
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
                    at_step.append(row)
        if dropped:
            log.warning("%s: dropped %d damaged line(s) (a run killed while writing)", self.path, dropped)
        repaired = b"".join(kept)
        if repaired != raw:
            atomic_write(self.path, repaired)
        return at_step

    def append(self, row: dict[str, Any]) -> None:
        """Write one row and flush it."""
        if self._fh is not None:
            self._fh.write(json.dumps(row) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class JsonlLogger(Logger):
    """Appends one JSON object per logging call to metrics.jsonl, and each evaluation's samples to samples.jsonl.

    On resume both files are repaired to end at the resumed step (JsonlFile); a row the trainer logs again at
    the resumed step with metrics already recorded there (relaunching a finished run) is not duplicated.
    """

    def __init__(self, cfg: JsonlLoggerConfig, run_dir: Path) -> None:
        self.metrics = JsonlFile(run_dir / cfg.filename)
        self.samples = JsonlFile(run_dir / cfg.samples_filename)
        self.path = self.metrics.path
        self._step = 0  # the step the fit started from
        self._samples_started = False  # samples.jsonl is opened on the first samples: runs without them have none
        self._resumed_step: int | None = None
        self._keys_at_resume: set[str] = set()  # names already recorded at the resumed step

    def on_fit_start(self, state: TrainState) -> None:
        """Open metrics.jsonl for appending: a fresh run starts it anew, a resumed one repairs it first."""
        self._step = state.step
        rows = self.metrics.start(state.step)
        if state.step > 0:
            self._resumed_step = state.step
            self._keys_at_resume = {k for row in rows for k in row if k != "step"}
        if state.step == 0:
            self.samples.path.unlink(missing_ok=True)  # a previous run's, replaced
        elif self.samples.path.exists():
            self._start_samples()

    def _start_samples(self) -> None:
        rows = self.samples.start(self._step)
        self._keys_at_resume.update(f"samples:{row.get('name')}" for row in rows)
        self._samples_started = True

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Append one `{"step": step, **metrics}` row and flush it."""
        if step == self._resumed_step and metrics.keys() <= self._keys_at_resume:
            return  # already recorded before the resume (a finished run relaunched)
        self.metrics.append({"step": step, **metrics})

    def log_samples(self, name: str, rows: list[dict[str, str]], step: int) -> None:
        """Append `{"step": step, "name": name, "rows": rows}` to samples.jsonl."""
        if not self._samples_started:
            self._start_samples()
        if step == self._resumed_step and f"samples:{name}" in self._keys_at_resume:
            return
        self.samples.append({"step": step, "name": name, "rows": rows})

    def close(self, state: TrainState, status: str = "finished") -> None:
        """Close the files."""
        self.metrics.close()
        self.samples.close()


def build_jsonl(cfg: JsonlLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> JsonlLogger:
    """Metrics as JSON lines in the run directory (metrics.jsonl)."""
    return JsonlLogger(cfg, run_dir)
