"""Callbacks observe the loop at fixed events; they never rewire it, but may ask it to stop (`state.stop`).

The events, as pseudocode of `Trainer.fit`:

    on_fit_start(state)                         # state.model: the model being trained (read its weights)
    for each optimizer step:
        ... micro-batches, backward, precision.step ...
        on_step_end(state)                      # state.step is the number of finished steps
        if evaluating now:
            metrics = the core's evaluation of the model's weights, logged as `val/...`
            on_eval_end(state, metrics)         # may call state.evaluate(split, weights, prefix=...)
        if logging now:      (loggers receive log_metrics)
        if checkpointing:    on_checkpoint(state, path)
        if state.stop:       stop (a callback asked; the final evaluation and checkpoint still follow)
    on_fit_end(state, final_metrics)

What a callback may do beyond watching, and nothing more:

- read `state.model`'s parameters and buffers (never write them, nor the optimizer's state);
- in `on_eval_end`, ask the core to evaluate other weights: `state.evaluate(split, weights, prefix=...)` swaps
  `weights` (a `{name: tensor}` subset of the model's state_dict) in for that one evaluation, logs the metrics at
  the current step as `<prefix>/<metric>`, adds them to the evaluation's metrics (summary, final metrics) and puts
  the model's own weights back bit for bit; no event fires for it;
- keep other sets of the model's weights (an average, say) in its `state_dict()` under `WEIGHT_SETS` as
  `{set name: {name: tensor}}`: they are saved in every checkpoint, and `plait eval <run> weights=<set name>`
  (predict, translate, generate, answer, export alike) reopens the run with that set in place of the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import Tensor, nn

#: The key of a callback's state_dict() under which it keeps named sets of model weights (see above).
WEIGHT_SETS = "weight_sets"


class Evaluator(Protocol):
    """The core's evaluation, lent to callbacks as `state.evaluate` (see the module's docstring)."""

    def __call__(
        self, split: str = "val", weights: Mapping[str, Tensor] | None = None, *, prefix: str | None = None
    ) -> dict[str, float]: ...


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
    model: nn.Module | None = None  # the model being trained (unwrapped from DDP): read, never write
    evaluate: Evaluator | None = None  # the core's evaluation with other weights; only inside on_eval_end


class Callback:
    """Base class with no-op events; subclass and override the ones you need."""

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first step (after any resume)."""

    def on_step_end(self, state: TrainState) -> None:
        """After each optimizer step; must not sync the device."""

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """After each evaluation, with `val/...` metrics; `state.evaluate` may evaluate other weights here."""

    def on_checkpoint(self, state: TrainState, path: Path) -> None:
        """After a complete checkpoint was written to `path`."""

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """After the last step and final evaluation."""

    def state_dict(self) -> dict[str, Any]:
        """State saved into checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
