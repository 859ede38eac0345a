"""Ending a run before `max_steps`, and judging its evaluations: the one object the loop consults for both.

    fit() begins:        watch.begin(checkpoints)      # starts the clock, names the (restored) best checkpoint
    evaluate():          watch.judge(state, metrics)   # ranks the best checkpoints; early stopping may
                                                       # call state.request_stop(reason), as any callback may
    each step boundary:  agree_all(watch.at_boundary(state, signal))   # every rank agrees (preemption.agree_all)
                         a signal: Preempted; state.stop set or the time limit near: watch.stop(...), leave

A stop that a callback or early stopping asked for is final: the run evaluates, saves and finishes (exit 0), and a
relaunch with `trainer.resume=auto` has nothing to add. A stop for `trainer.max_time` evaluates, saves and exits 0
as well, but `trainer.resume=auto` continues the run. The bookkeeping (ranking, patience count, best value and a
final stop) is part of every checkpoint, so a resumed run judges exactly as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.callback import TrainState
from framework.engine import distributed
from framework.engine.best import POINTER, BestCheckpoints
from framework.engine.config import EarlyStoppingConfig, TrainerConfig
from framework.engine.monitor import Monitor
from framework.engine.time_limit import TimeLimit, parse_duration
from framework.errors import PlaitError


@dataclass
class Stop:
    """Where and why a run ended before `max_steps`; `final` unless it was the time limit; `status`: the run's word."""

    step: int
    reason: str
    final: bool
    status: str = "stopped"


def _asked(state: TrainState) -> Stop:
    """The stop a callback asked for in this step (`state.stop`, `state.stop_reason`)."""
    reason = state.stop_reason or f"a callback asked to stop ({state.stop})"
    return Stop(state.step, reason, final=True, status=state.stop or "stopped")


class EarlyStopping:
    """Counts evaluations in a row without improvement; asks the loop to stop once `patience` of them went by."""

    def __init__(self, cfg: EarlyStoppingConfig, monitor: Monitor) -> None:
        self.cfg = cfg
        self.monitor = monitor
        self.reference: float | None = None  # the last value that improved by more than min_delta
        self.reference_step = 0
        self.waited = 0  # evaluations since then

    def judge(self, state: TrainState, value: float) -> None:
        """Count this evaluation's `value`; request the stop when patience ran out."""
        if self.monitor.better(value, self.reference, self.cfg.min_delta):
            self.reference, self.reference_step, self.waited = value, state.step, 0
            return
        self.waited += 1
        if self.cfg.patience is not None and self.waited >= self.cfg.patience:
            since = f"{self.reference:.6g} at step {self.reference_step}" if self.reference is not None else "any value"
            state.request_stop(
                f"early stopping: {self.monitor.metric} has not improved on {since} by more than "
                f"{self.cfg.min_delta:g} in {self.waited} evaluations (trainer.early_stopping.patience={self.cfg.patience})",
                status="stopped_early",
            )

    def state_dict(self) -> dict[str, Any]:
        """The reference value and the patience count, for checkpoints."""
        return {"reference": self.reference, "reference_step": self.reference_step, "waited": self.waited}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
        self.reference = state.get("reference")
        self.reference_step = int(state.get("reference_step", 0))
        self.waited = int(state.get("waited", 0))


class Watch:
    """Best checkpoints, early stopping and the time limit of one run; `monitor` None: nothing judges evaluations."""

    def __init__(self, cfg: TrainerConfig, monitor: Monitor | None) -> None:
        self.monitor = monitor
        self.best = BestCheckpoints(cfg.keep_best_checkpoints, monitor) if monitor is not None else None
        patient = monitor is not None and cfg.early_stopping.patience is not None
        self.early = EarlyStopping(cfg.early_stopping, monitor) if patient and monitor is not None else None
        self.max_time = cfg.max_time
        self.clock = TimeLimit(parse_duration(cfg.max_time) if cfg.max_time is not None else None)
        self.top: tuple[float, int] | None = None  # the best (value, step) evaluated so far
        self.stopped: Stop | None = None
        self._stop_saved = False  # whether a checkpoint holds the final stop

    def begin(self, directory: Path) -> None:
        """At the start of fit(): start the clock; name the best checkpoint again (a resume may have dropped newer ones)."""
        self.clock.start()
        if distributed.is_main():
            self.write_pointer(directory)

    @property
    def finished(self) -> bool:
        """True when the run ended for good before max_steps (a relaunch has nothing to add)."""
        return self.stopped is not None and self.stopped.final

    @property
    def stop_unsaved(self) -> bool:
        """True when the run stopped for good after its last checkpoint was written (save it again, with the stop)."""
        return self.finished and not self._stop_saved

    @property
    def judging(self) -> bool:
        """False during the extra evaluation of a time-limit stop: an uninterrupted run would not have made it, so
        neither patience, the ranking nor a metric-driven schedule may count it (the resumed run must match)."""
        return self.stopped is None or self.stopped.final

    def judge(self, state: TrainState, metrics: dict[str, float]) -> bool:
        """Judge one validation; True when this step's checkpoint is now among the best to keep (write it)."""
        if self.monitor is None or not self.judging:
            return False
        value = self.monitor.value_in(metrics)
        if self.monitor.better(value, self.top[0] if self.top is not None else None):
            self.top = (value, state.step)
        if self.early is not None:
            self.early.judge(state, value)
        return self.best.offer(state.step, value) if self.best is not None else False

    def kept_steps(self) -> set[int]:
        """Checkpoints that pruning must keep beside the newest ones."""
        return self.best.steps() if self.best is not None else set()

    def write_pointer(self, directory: Path) -> None:
        """Name the best checkpoint in `directory/best.json` (removed when this run ranks none)."""
        if self.best is not None:
            self.best.write_pointer(directory)
        else:
            (Path(directory) / POINTER).unlink(missing_ok=True)

    def at_boundary(self, state: TrainState, signal: str | None) -> list[bool]:
        """Measure the step that just finished; what may end the loop at this boundary, for every rank to agree on:
        a stop signal (`signal`), a stop asked for (`state.stop`), and the time limit near (one more step would not
        leave time to evaluate and save)."""
        self.clock.step_done()
        return [signal is not None, state.stop is not None, self.clock.expired()]

    def stop(self, state: TrainState, *, final: bool) -> dict[str, float]:
        """Record why the loop ends at this step (a requested stop when `final`, else the time limit), print it
        (rank 0) and return the row to log: `train/stopped_early` or `train/time_limit_reached`."""
        if not final:
            self.stopped = Stop(state.step, self.clock.reason(str(self.max_time)), final=False, status="time_limit")
        elif state.stop is not None:
            self.stopped = _asked(state)
        else:  # under torchrun, a callback on another rank asked
            self.stopped = Stop(state.step, "a callback on another process asked to stop", final=True)
        if distributed.is_main():
            print(self.message(), flush=True)
        return {"train/stopped_early" if final else "train/time_limit_reached": 1.0}

    def message(self) -> str:
        """One line for people: where the run stopped, why, and what to do next."""
        assert self.stopped is not None
        if self.stopped.final:
            return f"stopped early at step {self.stopped.step}: {self.stopped.reason}"
        return f"stopped at step {self.stopped.step}: {self.stopped.reason}; continue with trainer.resume=auto"

    def summary(self) -> dict[str, Any]:
        """What the run's summary records: the stop (`stopped_early_at` or `time_limit_reached_at`) and the best."""
        out: dict[str, Any] = {}
        if self.stopped is not None:
            out["stopped_early_at" if self.stopped.final else "time_limit_reached_at"] = self.stopped.step
            out["stop_reason"], out["stop_status"] = self.stopped.reason, self.stopped.status
        if self.top is not None and self.monitor is not None:
            out.update(best_metric=self.monitor.metric, best_step=self.top[1], best_value=self.top[0])
        if self.best is not None and self.best.ranked:
            out["best_checkpoint"] = f"checkpoints/step_{self.best.ranked[0][1]:07d}"
        return out

    def state_dict(self, state: TrainState) -> dict[str, Any]:
        """The bookkeeping, for checkpoints. A stop requested in this step counts as taken (the loop ends at this
        step boundary); a time-limit stop is not kept, so that resuming continues."""
        final = self.stopped if self.finished else None
        if final is None and state.stop is not None:
            final = _asked(state)
        self._stop_saved = final is not None
        return {
            "monitor": [self.monitor.metric, self.monitor.mode] if self.monitor is not None else None,
            "top": list(self.top) if self.top is not None else None,
            "best": self.best.state_dict() if self.best is not None else None,
            "early": self.early.state_dict() if self.early is not None else None,
            "stopped": {"step": final.step, "reason": final.reason, "status": final.status} if final else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; a monitor changed since the checkpoint is refused (the ranking would mix metrics)."""
        saved = state.get("monitor")
        if self.monitor is not None and saved and tuple(saved) != (self.monitor.metric, self.monitor.mode):
            raise PlaitError(
                f"this run judged its evaluations by {saved[0]} ({saved[1]}); resuming it with {self.monitor.key}="
                f"{self.monitor.metric} ({self.monitor.mode}) would mix two metrics in its best checkpoints and "
                f"patience. Resume with the saved monitor, or start a new run"
            )
        if state.get("top") is not None:
            self.top = (float(state["top"][0]), int(state["top"][1]))
        if self.best is not None and state.get("best"):
            self.best.load_state_dict(state["best"])
        if self.early is not None and state.get("early"):
            self.early.load_state_dict(state["early"])
        if state.get("stopped"):
            saved = state["stopped"]
            self.stopped = Stop(int(saved["step"]), str(saved["reason"]), True, str(saved.get("status", "stopped")))
            self._stop_saved = True
