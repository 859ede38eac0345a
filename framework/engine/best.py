"""`trainer.keep_best_checkpoints`: the k best checkpoints by the monitored metric, and the run's pointer to the best.

The ranking (value and step of each kept checkpoint) is part of every checkpoint's state, so a resumed run keeps it
exactly. `checkpoints/best.json` names the best checkpoint for the commands that reopen a run. It is rewritten
atomically after a save commits and before older checkpoints are pruned, and again when a run resumes, so a kill
leaves it naming a checkpoint that still exists; a reader checks that anyway and falls back to the newest one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from framework.engine.checkpoint import PREFIX, is_complete
from framework.engine.monitor import Monitor
from framework.files import atomic_write

POINTER = "best.json"


class BestCheckpoints:
    """The k best evaluations by the monitor, each kept on disk as the checkpoint of its step."""

    def __init__(self, k: int, monitor: Monitor) -> None:
        self.k = k
        self.monitor = monitor
        self.ranked: list[tuple[float, int]] = []  # (value, step), best first; ties: the earlier step first

    def offer(self, step: int, value: float) -> bool:
        """Rank the evaluation of `step`; True when it is among the k best (its checkpoint must be written and kept)."""
        if self.k == 0 or not math.isfinite(value):
            return False
        sign = 1.0 if self.monitor.mode == "min" else -1.0
        entries = [e for e in self.ranked if e[1] != step] + [(value, step)]
        self.ranked = sorted(entries, key=lambda e: (sign * e[0], e[1]))[: self.k]
        return step in self.steps()

    def steps(self) -> set[int]:
        """Steps whose checkpoints pruning must keep."""
        return {step for _, step in self.ranked}

    def write_pointer(self, directory: Path) -> None:
        """Write (atomically) `best.json` naming the best checkpoint, or remove it when nothing is ranked."""
        path = Path(directory) / POINTER
        if not self.ranked:
            path.unlink(missing_ok=True)
            return
        value, step = self.ranked[0]
        pointer = {
            "checkpoint": f"{PREFIX}{step:07d}",
            "step": step,
            "metric": self.monitor.metric,
            "mode": self.monitor.mode,
            "value": value,
            "ranked": [{"step": s, "value": v} for v, s in self.ranked],
        }
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(pointer, indent=2) + "\n")

    def state_dict(self) -> dict[str, Any]:
        """The ranking, for checkpoints."""
        return {"metric": self.monitor.metric, "mode": self.monitor.mode, "ranked": [list(e) for e in self.ranked]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; a changed `k` keeps the best of the saved ranking."""
        self.ranked = [(float(v), int(s)) for v, s in state.get("ranked", [])][: self.k]


def read_pointer(path: Path | str) -> dict[str, Any] | None:
    """The best-checkpoint pointer of a run directory (or its checkpoints/), with `path` set to the checkpoint;
    None when the run has none or it names a checkpoint that is not complete."""
    root = Path(path).expanduser()
    for directory in (root / "checkpoints", root):
        file = directory / POINTER
        if not file.is_file():
            continue
        try:
            pointer: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
            checkpoint = directory / str(pointer["checkpoint"])
        except (ValueError, KeyError, TypeError):
            return None
        pointer["path"] = checkpoint
        return pointer if is_complete(checkpoint) else None
    return None
