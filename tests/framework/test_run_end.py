"""The end-of-run event: every way out of `Trainer.fit` tells observers `on_run_end(state, status, reason)` once,
then closes the loggers with Logger.close's word (framework/engine/ending.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from toy_training import toy_trainer

from framework.callback import Callback, TrainState
from framework.engine.preemption import Preempted
from framework.logger import Logger


class Heard(Logger):
    """Records, in order, the end-of-run events and the close it receives."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, int]] = []

    def on_run_end(self, state: TrainState, status: str, reason: str | None = None) -> None:
        self.events.append(("end:" + status, reason, state.step))

    def close(self, state: TrainState, status: str = "finished") -> None:
        self.events.append(("close:" + status, None, state.step))


class RaiseAt(Callback):
    """Raises `error` after step `step`."""

    def __init__(self, step: int, error: BaseException) -> None:
        self.step, self.error = step, error

    def on_step_end(self, state: TrainState) -> None:
        if state.step == self.step:
            raise self.error


def fit(run_dir: Path, *callbacks: Callback, **trainer: object) -> Heard:
    """Fit a toy run with `callbacks` (and a Heard logger); returns the logger, whatever the fit raised."""
    heard = Heard()
    spike = trainer.pop("spike_steps", frozenset())
    short = {"max_steps": 3, "eval_every_n_steps": 3, "checkpoint_every_n_steps": 3, **trainer}
    run = toy_trainer("fp32", run_dir, callbacks=list(callbacks), spike_steps=spike, **short)  # type: ignore[arg-type]
    run.parts.loggers.append(heard)
    with contextlib.suppress(BaseException):  # the test reads what the observers heard
        run.fit()
    return heard


def test_each_way_out_of_fit_is_one_end_event_then_the_loggers_close(tmp_path: Path) -> None:
    assert fit(tmp_path / "ok").events == [("end:finished", None, 3), ("close:finished", None, 3)]
    diverged = fit(tmp_path / "nan", spike_steps={2}, detect_anomaly_every_step=True).events
    assert [e[0] for e in diverged] == ["end:diverged", "close:failed"] and "non-finite" in str(diverged[0][1])
    crashed = fit(tmp_path / "crash", RaiseAt(2, RuntimeError("disk on fire"))).events
    assert crashed == [("end:crashed", "disk on fire", 2), ("close:failed", None, 2)]
    preempted = fit(tmp_path / "term", RaiseAt(3, Preempted("SIGTERM", 3))).events
    assert [e[0] for e in preempted] == ["end:preempted", "close:interrupted"] and "SIGTERM" in str(preempted[0][1])
    assert [e[0] for e in fit(tmp_path / "ctrl-c", RaiseAt(1, KeyboardInterrupt())).events] == [
        "end:preempted", "close:interrupted"
    ]  # fmt: skip


class FailsAtEnd(Callback):
    def on_run_end(self, state: TrainState, status: str, reason: str | None = None) -> None:
        raise ValueError("the webhook is down")


def test_an_observer_failing_at_the_end_of_a_crash_warns_and_the_crash_is_what_is_raised(tmp_path: Path) -> None:
    run = toy_trainer("fp32", tmp_path, callbacks=[RaiseAt(2, RuntimeError("disk on fire")), FailsAtEnd()])
    heard = Heard()
    run.parts.loggers.append(heard)
    warned = pytest.warns(UserWarning, match="FailsAtEnd.on_run_end failed: the webhook is down")
    with warned, pytest.raises(RuntimeError, match="disk on fire"):
        run.fit()
    assert heard.events[-1] == ("close:failed", None, 2)  # the loggers are still closed


def test_an_observer_failing_at_the_end_of_a_finished_run_fails_it_and_the_loggers_still_close(tmp_path: Path) -> None:
    run = toy_trainer("fp32", tmp_path, callbacks=[FailsAtEnd()])
    heard = Heard()
    run.parts.loggers.append(heard)
    with pytest.raises(ValueError, match="the webhook is down"):
        run.fit()
    assert heard.events == [("end:finished", None, 6), ("close:finished", None, 6)]
