"""`+callback=median_stop`: stop a sweep's trial whose objective is worse than the median of the other trials'.

At each evaluation after `warmup_evals`, the trial's objective at step s is compared with the median of
the values the other trials of the sweep logged at the same step s (their `metrics.jsonl`, read from the
sweep directory, so it works with every launcher and sweeper). Strictly worse, with at least
`min_trials` others to compare with: the trial stops after this step, its status `pruned`. Optuna's
MedianPruner applies the same rule (the Hydra Optuna sweeper has no pruner of its own).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from framework import Callback, Choice, ComponentConfig, TrainState, at_least, lower_is_better

SWEEP_MARKER = "multirun.yaml"  # Hydra writes it in every sweep directory: outside a sweep the rule is off


class Direction(Choice):
    """Which way the objective improves."""

    auto = "auto"  # min for names with loss, perplexity, error, wer, cer; else max
    min = "min"
    max = "max"


@dataclass
class MedianStopConfig(ComponentConfig):
    """Options of median stopping."""

    objective: str = "${objective}"  # the metric compared (default: the run's objective)
    mode: Direction = Direction.auto  # min | max | auto (min for names with loss, perplexity, error, wer, cer)
    warmup_evals: int = 1  # this trial's first evaluations never stop it
    min_trials: int = 2  # other trials that must have a value at the same step
    metrics_file: str = "metrics.jsonl"  # where each trial's jsonl logger writes (logger.jsonl.filename)

    def validate(self) -> None:
        """Range checks."""
        at_least(self, 0, "warmup_evals")
        at_least(self, 1, "min_trials")


def values_at(path: Path, objective: str, step: int) -> float | None:
    """The value `objective` was logged with at `step` in a metrics.jsonl file (None when it was not)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line another trial is writing right now
        if row.get("step") == step and isinstance(row.get(objective), (int, float)):
            return float(row[objective])
    return None


class MedianStop(Callback):
    """Asks the trainer to stop (`state.stop = "pruned"`) when this trial falls below the sweep's median."""

    def __init__(self, cfg: MedianStopConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.sweep_dir = self.run_dir.parent if (self.run_dir.parent / SWEEP_MARKER).is_file() else None
        self.lower = lower_is_better(cfg.objective) if cfg.mode == Direction.auto else cfg.mode == Direction.min
        self.evals = 0

    def others(self, step: int) -> list[float]:
        """The other trials' values of the objective at `step`."""
        assert self.sweep_dir is not None
        files = (p for p in self.sweep_dir.glob(f"*/{self.cfg.metrics_file}") if p.parent != self.run_dir)
        return [v for p in sorted(files) if (v := values_at(p, self.cfg.objective, step)) is not None]

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """Compare with the median at this step; stop when strictly worse."""
        self.evals += 1
        value = metrics.get(self.cfg.objective)
        if self.sweep_dir is None or value is None or self.evals <= self.cfg.warmup_evals:
            return
        others = self.others(state.step)
        if len(others) < self.cfg.min_trials:
            return
        median = statistics.median(others)
        if (value > median) if self.lower else (value < median):
            state.stop = "pruned"
            print(
                f"median_stop: {self.cfg.objective} {value:.4g} at step {state.step} is worse than the median "
                f"{median:.4g} of {len(others)} other trials: stopping this trial (pruned)",
                flush=True,
            )

    def state_dict(self) -> dict[str, int]:
        """The evaluations seen, so a resumed trial keeps its warmup count."""
        return {"evals": self.evals}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore `state_dict()`."""
        self.evals = int(state.get("evals", 0))


def build_median_stop(cfg: MedianStopConfig, *, run_dir: Path) -> MedianStop:
    """Stop a sweep trial whose objective is worse than the other trials' median at the same step."""
    return MedianStop(cfg, run_dir)
