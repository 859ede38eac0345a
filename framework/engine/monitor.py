"""The monitored metric: which one, which way it improves, and the checks that the run really logs it.

`trainer.early_stopping.monitor` (null: the run's `objective`) and `.mode` (null: inferred from the metric's name)
say what early stopping watches and what `trainer.keep_best_checkpoints` ranks by. A task declares the metrics its
evaluation returns with `Task.metric_names()`, so a `val/` monitor naming another metric fails before any work; a
monitor may name an extra validation set (`val/<name>/<metric>`, task.extra_val_paths), which must exist.
What cannot be known before training (a task that declares nothing, a metric under another prefix than `val/`) is
checked at the first evaluation, with the list of the metrics it logged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.errors import PlaitError
from framework.task_kinds import extra_val_splits

if TYPE_CHECKING:
    from framework.task import Task

MINIMISED = ("loss", "perplexity", "ppl", "error", "wer", "cer")  # words of metric names where lower is better


def lower_is_better(metric: str) -> bool:
    """True when the metric named `metric` improves downwards: a word of its name is a loss, perplexity or error."""
    words = re.split(r"[^a-z0-9]+", metric.rsplit("/", 1)[-1].lower())
    return any(word in MINIMISED for word in words)


@dataclass(frozen=True)
class Monitor:
    """The metric evaluations are judged by, which way it improves, and the config key that chose it."""

    metric: str
    mode: str  # "min" | "max"
    key: str = "trainer.early_stopping.monitor"

    def better(self, value: float, than: float | None, delta: float = 0.0) -> bool:
        """True when `value` improves on `than` by more than `delta`; a non-finite value never does."""
        if not math.isfinite(value):
            return False
        if than is None:
            return True
        return value < than - delta if self.mode == "min" else value > than + delta

    def value_in(self, metrics: dict[str, float]) -> float:
        """The monitored value among an evaluation's `metrics`; an error listing them when it is not there."""
        if self.metric not in metrics:
            raise PlaitError(
                f"{self.key}={self.metric} is not among the metrics this evaluation logged ({', '.join(sorted(metrics))}); "
                f"set {self.key} to one of them"
            )
        return float(metrics[self.metric])


def monitor_of(trainer: Any, objective: str | None) -> Monitor | None:
    """The run's monitored metric: `trainer.early_stopping.monitor`, else the `objective`; None when both are empty."""
    stopping = trainer.early_stopping
    metric = stopping.monitor or objective or None
    if not metric:
        return None
    key = "trainer.early_stopping.monitor" if stopping.monitor else "objective"
    mode = str(stopping.mode) if stopping.mode is not None else ("min" if lower_is_better(metric) else "max")
    return Monitor(str(metric), mode, key)


def monitor_used(trainer: Any) -> bool:
    """True when early stopping or best checkpoints judge evaluations by the monitored metric."""
    return trainer.early_stopping.patience is not None or trainer.keep_best_checkpoints > 0


def check_monitor(trainer: Any, objective: str | None, task: Task | None = None) -> Monitor | None:
    """Before any work: the monitor that early stopping or best checkpoints need exists and names a metric the
    task logs. Returns it (None when neither is on). `trainer`: the TrainerConfig (or its node)."""
    if not monitor_used(trainer):
        return None
    monitor = monitor_of(trainer, objective)
    if monitor is None:
        raise PlaitError(
            "trainer.early_stopping / trainer.keep_best_checkpoints judge evaluations by a metric, and this run names "
            "none (objective and trainer.early_stopping.monitor are empty); set trainer.early_stopping.monitor=val/<metric>"
        )
    names = task.metric_names() if task is not None else None
    val_sets = ["val", *extra_val_splits(task.splits())] if task is not None else ["val"]
    logged = ", ".join(f"{s}/{n}" for s in val_sets for n in names or [])
    if names is not None and not names:
        raise PlaitError(f"{monitor.key}={monitor.metric}: this task's evaluation logs no metrics to judge by")
    prefix, _, name = monitor.metric.rpartition("/")
    if not prefix:
        hint = f"; this task logs {logged}" if logged else ""
        raise PlaitError(f"{monitor.key}={monitor.metric}: metrics are named <split>/<name>, e.g. val/loss{hint}")
    if task is not None and prefix.split("/")[0] == "val" and prefix not in val_sets:
        extra = ", ".join(s.split("/", 1)[1] for s in val_sets[1:]) or "none"
        raise PlaitError(
            f"{monitor.key}={monitor.metric}: the task has no validation set '{prefix.split('/', 1)[1]}' (its extra "
            f"validation sets: {extra}); name one with task.extra_val_paths.<name>=<file> or monitor val/<metric>"
        )
    if names is not None and prefix.split("/")[0] == "val" and name not in names:
        raise PlaitError(
            f"{monitor.key}={monitor.metric} is not a metric this task logs; it logs {logged} (set {monitor.key} "
            "to one of them)"
        )
    return monitor
