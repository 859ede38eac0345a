"""Callbacks observe the loop at fixed events; they never rewire it, but may ask it to stop (`state.request_stop`).

The events, as pseudocode of `Trainer.fit`:

    on_fit_start(state)                         # state.model: the model being trained (read its weights)
    for each optimizer step:
        ... micro-batches, backward, precision.step ...
        on_step_end(state)                      # state.step is the number of finished steps
        if logging now:      (loggers receive log_metrics)
        if evaluating now:
            metrics = the core's evaluation of the model's weights, logged as `val/...`
            on_eval_end(state, metrics)         # may call state.evaluate(split, weights, prefix=...)
            (a checkpoint is written when this evaluation is among trainer.keep_best_checkpoints)
        if checkpointing:    on_checkpoint(state, path)
        if state.stop or trainer.max_time is near:
                             leave the loop         # every process at this same step boundary
    (unless this step was just evaluated) on_eval_end(state, metrics)
    (unless this step was just saved)     on_checkpoint(state, path)
    on_fit_end(state, final_metrics)
    on_run_end(state, status, reason)            # always last, however fit() ended (see below)

`on_run_end` is the end-of-run event, heard by loggers and callbacks alike at the place where loggers are closed
(`Logger.close(state, status)` right after it), so it comes whether the run finished or not. `status` is one of:

- `finished`: the loop ended normally (max_steps, early stopping, a callback's stop, trainer.max_time), after
  `on_fit_end`; `state.last_metrics` holds the final evaluation; also sent when a relaunched run had nothing left
  to do (then without `on_fit_start`);
- `diverged`: training went non-finite; the crash checkpoint and `nan_report.json` are written;
- `crashed`: any other exception left the loop;
- `preempted`: a stop signal (SIGTERM, SIGUSR1, Ctrl-C) ended it; resumable with `trainer.resume=auto`.

`reason` is None when finished, else the error's message. An error raised by `on_run_end` while the run is
ending on an error is a warning, so the first error is the one reported. It runs on every process under torchrun
(ask `framework.is_main()` before sending anything out once), and never for an error before `on_fit_start`
(a bad config, a build that failed).

What a callback may do beyond watching, and nothing more:

- read `state.model`'s parameters and buffers (never write them, nor the optimizer's state);
- in `on_eval_end`, ask the core to evaluate other weights: `state.evaluate(split, weights, prefix=...)` swaps
  `weights` (a `{name: tensor}` subset of the model's state_dict) in for that one evaluation, logs the metrics at
  the current step as `<prefix>/<metric>`, adds them to the evaluation's metrics (summary, final metrics) and puts
  the model's own weights back bit for bit; no event fires for it;
- keep other sets of the model's weights (an average, say) in its `state_dict()` under `WEIGHT_SETS` as
  `{set name: {name: tensor}}`: they are saved in every checkpoint, and `plait eval <run> weights=<set name>`
  (predict, translate, generate, answer, export alike) reopens the run with that set in place of the weights;
- ask the loop to stop: `state.request_stop(reason, status="stopped")` (or set `state.stop = "pruned"`, a status
  word, directly). The loop finishes the current step's events, ends at that step boundary, evaluates, saves and
  finishes normally (exit 0); the reason is printed, logged as a `train/stopped_early` row and kept in the run's
  `summary.json` (`stopped_early_at`, `stop_reason`), and a sweep's summary shows the status. Such a stop is
  final: relaunching the run with `trainer.resume=auto` has nothing to add. Early stopping
  (`trainer.early_stopping`) asks through the same call, with the status `stopped_early`.
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
    stop: str | None = None  # set to end training after this step; the word is the run's status ("pruned")
    stop_reason: str | None = None  # why, in a sentence: printed and kept in the run's summary.json
    model: nn.Module | None = None  # the model being trained (unwrapped from DDP): read, never write
    evaluate: Evaluator | None = None  # the core's evaluation with other weights; only inside on_eval_end

    def request_stop(self, reason: str, status: str = "stopped") -> None:
        """Ask the loop to end at the next step boundary, then evaluate, save and finish; the first request is kept.

        `status` is the short word a sweep's summary shows for the run (`pruned`, `stopped_early`, ...).
        """
        if self.stop is None:
            self.stop, self.stop_reason = status, reason


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

    def on_run_end(self, state: TrainState, status: str, reason: str | None = None) -> None:
        """Last, however the run ended: `status` is finished, diverged, crashed or preempted; `reason` the error's
        message (None when finished)."""

    def state_dict(self) -> dict[str, Any]:
        """State saved into checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
