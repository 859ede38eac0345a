"""Callbacks observe the loop at fixed events; they never rewire it, but may ask it to stop (`state.stop`).

The events, as pseudocode of `Trainer.fit`:

    on_fit_start(state)
    for each optimizer step:
        ... micro-batches, backward, precision.step ...
        on_step_end(state)                      # state.step is the number of finished steps
        if evaluating now:   on_eval_end(state, metrics)
        if logging now:      (loggers receive log_metrics)
        if checkpointing:    on_checkpoint(state, path)
        if state.stop:       stop (a callback asked; the final evaluation and checkpoint still follow)
    on_fit_end(state, final_metrics)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainState:
    """Where the loop is; what callbacks are shown."""

    step: int = 0
    max_steps: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    run_dir: Path = field(default_factory=Path.cwd)
    last_metrics: dict[str, float] = field(default_factory=dict)
    stop: str | None = None  # set by a callback: training ends after this step; the word is the run's status ("pruned")


class Callback:
    """Base class with no-op events; subclass and override the ones you need."""

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first step (after any resume)."""

    def on_step_end(self, state: TrainState) -> None:
        """After each optimizer step; must not sync the device."""

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """After each evaluation, with `val/...` metrics."""

    def on_checkpoint(self, state: TrainState, path: Path) -> None:
        """After a complete checkpoint was written to `path`."""

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """After the last step and final evaluation."""

    def state_dict(self) -> dict[str, Any]:
        """State saved into checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
