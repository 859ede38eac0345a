"""How a run ended, told to everything that watched it, in one place for every way out of `Trainer.fit`.

    finished    the loop ended normally (max_steps, early stopping, a callback's stop, trainer.max_time),
                or a relaunched run found nothing left to do
    diverged    training went non-finite (framework.engine.divergence saved a crash checkpoint)
    crashed     any other exception left the loop
    preempted   a stop signal (SIGTERM, SIGUSR1, Ctrl-C): resumable with trainer.resume=auto

Every observer (loggers, then callbacks) hears `on_run_end(state, status, reason)`; then each logger is closed with
the coarser word `Logger.close` has always taken (finished, failed, interrupted).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from framework.callback import Callback, TrainState
from framework.engine.numerics import DivergenceError
from framework.engine.preemption import Preempted
from framework.logger import Logger

END_STATUSES = ("finished", "diverged", "crashed", "preempted")
LOGGER_STATUS = {"finished": "finished", "diverged": "failed", "crashed": "failed", "preempted": "interrupted"}


def end_status(error: BaseException | None) -> str:
    """The end-of-run status word for the exception that left the loop (None: it finished)."""
    if error is None:
        return "finished"
    if isinstance(error, (Preempted, KeyboardInterrupt)):
        return "preempted"
    return "diverged" if isinstance(error, DivergenceError) else "crashed"


def end_run(
    observers: Sequence[Callback], loggers: Sequence[Logger], state: TrainState, error: BaseException | None = None
) -> None:
    """Tell `observers` how the run ended, then close `loggers` (always). While an error is on its way out, an
    observer that fails here is a warning, never a second error in place of the first."""
    status = end_status(error)
    reason = None if error is None else (str(error).strip() or type(error).__name__)
    try:
        for observer in observers:
            try:
                observer.on_run_end(state, status, reason)
            except Exception as exc:
                if error is None:
                    raise
                warnings.warn(f"{type(observer).__name__}.on_run_end failed: {exc}", stacklevel=2)
    finally:  # the loggers' records are closed even when an observer's end failed
        for logger in loggers:
            logger.close(state, LOGGER_STATUS[status])
