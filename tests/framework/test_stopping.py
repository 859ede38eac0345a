"""Stopping and judging on the toy run (fast): a callback's stop request, early stopping, best checkpoints and their
pointer, trainer.max_time, and a resume that keeps all of their bookkeeping exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from toy_training import KillAfterCheckpoint, Killed, ToyTask, toy_trainer

from framework.callback import Callback, TrainState
from framework.engine.best import read_pointer
from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.monitor import lower_is_better
from framework.engine.time_limit import TimeLimit, parse_duration
from framework.errors import ConfigValueError, PlaitError
from framework.task import Partials


class ScriptedTask(ToyTask):
    """The toy task whose evaluations also report `score`: the next of `scores` (a fixed script, for logic tests),
    or, without a script, a value that jumps around as a function of the loss (deterministic, so resumable)."""

    def __init__(self, scores: list[float] | None = None) -> None:
        super().__init__()
        self.scores = list(scores or [])

    def metric_names(self) -> list[str]:
        return ["loss", "accuracy", "score"]

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        metrics = super().reduce(partials)
        metrics["score"] = self.scores.pop(0) if self.scores else math.sin(metrics["loss"] * 7777.0)
        return metrics


class StopAt(Callback):
    """Asks the loop to stop after step `step`: with request_stop, or by setting `state.stop` to `status`."""

    def __init__(self, step: int, status: str | None = None) -> None:
        self.step, self.status = step, status

    def on_step_end(self, state: TrainState) -> None:
        if state.step == self.step and self.status is None:
            state.request_stop(f"asked at step {self.step}")
        elif state.step == self.step:
            state.stop = self.status


def steps_on_disk(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:]) for p in (run_dir / "checkpoints").glob("step_*"))


def score_judged(**trainer: object) -> dict[str, object]:
    """TrainerConfig overrides that judge evaluations by `val/score` (higher is better), every step."""
    stopping = {"monitor": "val/score", **trainer.pop("early_stopping", {})}  # type: ignore[dict-item]
    return {"eval_every_n_steps": 1, "early_stopping": stopping, **trainer}


# -- the pieces ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), (5, 5), ("1.5", 1.5), ("90s", 90), ("45m", 2700), ("2h", 7200), ("1d", 86400),
     ("01:30:00", 5400), ("00:00:05", 5), ("1:00:00:00", 86400)],
)  # fmt: skip
def test_durations_in_the_forms_max_time_takes(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-5", "00:00:00", "abc", "1:00", "5x", "", "1:-1:00"])
def test_bad_durations_name_the_key_and_the_forms(text: str) -> None:
    with pytest.raises(ConfigValueError, match=r"^trainer\.max_time="):
        parse_duration(text, "trainer.max_time")


def test_mode_inferred_from_the_metric_name() -> None:
    for metric in ("val/loss", "val/perplexity", "val/loss_per_char", "val/mean_error", "val/wer"):
        assert lower_is_better(metric), metric
    for metric in ("val/accuracy", "val/macro_f1", "val/bleu", "val/answer_f1", "val/exact_match"):
        assert not lower_is_better(metric), metric


def test_the_time_limit_counts_the_next_step_and_a_final_evaluation_and_save() -> None:
    clock = TimeLimit(10.0)
    clock.start()
    clock.started -= 9.0  # type: ignore[operator]  # 9 s already used
    clock.steps.append(0.3)
    assert not clock.expired()  # 9 + 0.3 < 10
    clock.last.update(eval=0.4, save=0.4)
    assert clock.expired()  # 9 + 0.3 + 0.4 + 0.4 > 10
    assert not TimeLimit(None).expired()


# -- the loop -----------------------------------------------------------------------------------------------------


def test_a_callback_request_stops_at_that_step_boundary_and_is_final(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, callbacks=[StopAt(4)], max_steps=12)
    metrics = trainer.fit()
    assert trainer.state.step == 4 and metrics == trainer.state.last_metrics  # evaluated at the stop
    assert {"step": 4, "train/stopped_early": 1.0} in trainer.history
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_0000004"
    assert trainer.watch.summary() == {
        "stopped_early_at": 4,
        "stop_reason": "asked at step 4",
        "stop_status": "stopped",
    }
    relaunched = toy_trainer("fp32", tmp_path, resume=True, max_steps=12)
    relaunched.fit()  # a final stop: nothing to add
    assert relaunched.state.step == 4 and steps_on_disk(tmp_path) == [3, 4]


def test_a_status_word_set_directly_stops_too_and_is_kept(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, callbacks=[StopAt(5, "pruned")], max_steps=12)
    trainer.fit()
    assert trainer.state.step == 5 and trainer.watch.summary()["stop_status"] == "pruned"
    assert load_state(latest_checkpoint(tmp_path / "checkpoints"))["watch"]["stopped"]["status"] == "pruned"


def test_early_stopping_counts_evaluations_without_an_improvement_beyond_min_delta(tmp_path: Path) -> None:
    task = ScriptedTask([0.5, 0.7, 0.69, 0.71, 0.9, 0.9])
    overrides = score_judged(early_stopping={"patience": 2, "min_delta": 0.05})
    trainer = toy_trainer("fp32", tmp_path, task=task, max_steps=6, **overrides)
    trainer.fit()
    assert trainer.state.step == 4  # 0.69 and 0.71 are not 0.05 above 0.7
    summary = trainer.watch.summary()
    assert summary["stopped_early_at"] == 4 and "0.7 at step 2" in summary["stop_reason"]
    assert (summary["best_metric"], summary["best_step"], summary["best_value"]) == ("val/score", 4, 0.71)


def test_best_checkpoints_are_written_at_evaluations_and_kept_beside_the_newest(tmp_path: Path) -> None:
    task = ScriptedTask([0.3, 0.9, 0.1, 0.8, 0.2, 0.85, 0.4, 0.5])
    overrides = score_judged(keep_best_checkpoints=2, keep_last_checkpoints=1, checkpoint_every_n_steps=0)
    toy_trainer("fp32", tmp_path, task=task, max_steps=8, **overrides).fit()
    assert steps_on_disk(tmp_path) == [2, 6, 8]  # the two best, and the final one
    pointer = read_pointer(tmp_path)
    assert pointer is not None and pointer["path"] == tmp_path / "checkpoints" / "step_0000002"
    assert (pointer["metric"], pointer["mode"], pointer["value"]) == ("val/score", "max", 0.9)
    assert [r["step"] for r in pointer["ranked"]] == [2, 6]


def test_pruning_by_age_never_deletes_a_best_checkpoint(tmp_path: Path) -> None:
    task = ScriptedTask([0.9, 0.1, 0.2, 0.3, 0.4, 0.5])
    overrides = score_judged(keep_best_checkpoints=1, keep_last_checkpoints=1, checkpoint_every_n_steps=1)
    toy_trainer("fp32", tmp_path, task=task, max_steps=6, **overrides).fit()
    assert steps_on_disk(tmp_path) == [1, 6]


def test_a_monitor_the_task_does_not_declare_fails_at_the_first_evaluation_with_the_list(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, max_steps=6, early_stopping={"patience": 2, "monitor": "val/bleu"})
    with pytest.raises(PlaitError, match=r"val/bleu is not among .*val/accuracy, val/loss"):
        trainer.fit()


def test_a_monitor_the_task_declares_it_does_not_log_fails_before_any_step(tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match=r"val/bleu is not a metric this task logs; it logs val/loss, val/accuracy"):
        bleu = score_judged(early_stopping={"monitor": "val/bleu", "patience": 1})
        toy_trainer("fp32", tmp_path, task=ScriptedTask(), **bleu)


def test_max_time_stops_at_a_step_boundary_saves_and_resume_continues(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, max_steps=10**6, max_time="1", eval_every_n_steps=50)
    trainer.fit()
    stopped = trainer.state.step
    assert 0 < stopped < 10**6 and trainer.watch.clock.elapsed_s() < 2.0
    assert {"step": stopped, "train/time_limit_reached": 1.0} in trainer.history
    assert latest_checkpoint(tmp_path / "checkpoints").name == f"step_{stopped:07d}"
    assert "time_limit_reached_at" in trainer.watch.summary()
    resumed = toy_trainer("fp32", tmp_path, resume=True, max_steps=10**6, max_time="1", eval_every_n_steps=50)
    assert resumed.state.step == stopped
    resumed.fit()
    assert resumed.state.step > stopped  # a time-limit stop is not final


def test_the_extra_evaluation_of_a_time_limit_stop_is_not_judged(tmp_path: Path) -> None:
    overrides = score_judged(eval_every_n_steps=50, keep_best_checkpoints=10**6)
    trainer = toy_trainer("fp32", tmp_path, task=ScriptedTask(), max_steps=10**6, max_time="1", **overrides)
    trainer.fit()
    evaluated = [row["step"] for row in trainer.history if "val/score" in row]
    assert evaluated[-1] == trainer.state.step  # evaluated at the stop (off the schedule, almost always)
    assert trainer.watch.best is not None
    assert sorted(trainer.watch.best.steps()) == [s for s in evaluated if s % 50 == 0]  # as an uninterrupted run


def test_resume_keeps_the_best_checkpoints_and_patience_exactly(tmp_path: Path) -> None:
    overrides = score_judged(
        max_steps=24, checkpoint_every_n_steps=5, keep_last_checkpoints=1, keep_best_checkpoints=3,
        early_stopping={"patience": 4},
    )  # fmt: skip
    straight = toy_trainer("fp32", tmp_path / "straight", task=ScriptedTask(), **overrides)
    straight.fit()
    assert straight.watch.summary()["stopped_early_at"] == 12  # after the kill at 10: patience runs over it
    run = tmp_path / "run"
    with pytest.raises(Killed):
        toy_trainer("fp32", run, task=ScriptedTask(), callbacks=[KillAfterCheckpoint(10)], **overrides).fit()
    resumed = toy_trainer("fp32", run, resume=True, task=ScriptedTask(), **overrides)
    assert resumed.state.step == 10
    resumed.fit()
    assert resumed.watch.state_dict(resumed.state) == straight.watch.state_dict(straight.state)
    assert resumed.watch.summary() == straight.watch.summary()
    assert steps_on_disk(run) == steps_on_disk(tmp_path / "straight")
    for name in ("best.json",):
        assert json.loads((run / "checkpoints" / name).read_text()) == json.loads(
            (tmp_path / "straight" / "checkpoints" / name).read_text()
        )
    a = load_state(latest_checkpoint(run / "checkpoints"))["watch"]
    assert a == load_state(latest_checkpoint(tmp_path / "straight" / "checkpoints"))["watch"]
