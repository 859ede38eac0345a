"""Early stopping, best checkpoints and trainer.max_time on real sentiment runs: an overfitting run stops itself,
`plait eval` opens its best checkpoint and reproduces the best value it logged, a time limit ends a long run
within one step and one save of it and `trainer.resume=auto` continues; every bad value fails before any work."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_validation import run_cli

from framework.callback import Callback, TrainState
from framework.cli.commands import load_command
from framework.engine.checkpoint import latest_checkpoint
from framework.engine.run import train
from framework.testing import compose

# 60 training sentences and 200 validation ones: val/loss bottoms out after ~20 steps, then rises
OVERFIT = [
    "precision=fp32",
    "objective=val/loss",
    "task.demo_size=60",
    "tokenizer.vocab_size=200",
    "model.d_model=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.d_ff=64",
    "trainer.max_steps=300",
    "trainer.eval_every_n_steps=5",
    "trainer.checkpoint_every_n_steps=5",
    "trainer.log_every_n_steps=5",
]
STOPPING = ["trainer.early_stopping.patience=2", "trainer.keep_best_checkpoints=2", "trainer.keep_last_checkpoints=1"]


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An overfitting sentiment run with early stopping (patience 2) and the 2 best checkpoints kept."""
    run_dir = tmp_path_factory.mktemp("overfit")
    train(compose([*OVERFIT, *STOPPING]), run_dir)
    return run_dir


@pytest.mark.slow
def test_an_overfitting_run_stops_early_and_records_why_and_its_best(overfit: Path) -> None:
    summary = json.loads((overfit / "summary.json").read_text())
    stopped, best = summary["stopped_early_at"], summary["best_step"]
    assert 0 < best < stopped < 300 and "early stopping: val/loss has not improved" in summary["stop_reason"]
    logged = rows(overfit)
    val = {r["step"]: r["val/loss"] for r in logged if "val/loss" in r}
    assert summary["best_value"] == min(val.values()) == val[best]
    assert [r["step"] for r in logged if "train/stopped_early" in r] == [stopped]
    assert max(val) == stopped  # no step after the stop
    names = sorted(p.name for p in (overfit / "checkpoints").iterdir())
    ranked = json.loads((overfit / "checkpoints" / "best.json").read_text())["ranked"]
    assert names == sorted(["best.json", *{f"step_{s:07d}" for s in [stopped] + [r["step"] for r in ranked]}])
    assert ranked[0]["step"] == best and len(ranked) == 2
    assert summary["best_checkpoint"] == f"checkpoints/step_{best:07d}"


@pytest.mark.slow
def test_eval_opens_the_best_checkpoint_and_reports_the_value_the_run_logged_as_best(overfit: Path, capsys) -> None:
    summary = json.loads((overfit / "summary.json").read_text())
    best = overfit / "checkpoints" / f"step_{summary['best_step']:07d}"
    load_command("eval").main([str(overfit), "split=val"])
    err = capsys.readouterr().err
    assert f"checkpoint: {best} (the best by val/loss" in err and err.count("checkpoint:") == 1
    result = json.loads((best / "eval_val.json").read_text())
    assert result["metrics"]["val/loss"] == pytest.approx(summary["best_value"], rel=1e-6)
    load_command("eval").main([str(overfit), "split=val", "checkpoint=last"])
    newest = overfit / "checkpoints" / f"step_{summary['stopped_early_at']:07d}"
    assert f"checkpoint: {newest} (the newest)" in capsys.readouterr().err
    final = {key: value for key, value in summary.items() if key.startswith("val/")}
    assert json.loads((newest / "eval_val.json").read_text())["metrics"] == final
    load_command("predict").main([str(overfit), "text=a fine film", f"checkpoint={newest.name}"])
    assert f"checkpoint: {newest} (as given)" in capsys.readouterr().err


@pytest.mark.slow
def test_relaunching_a_run_that_stopped_early_adds_nothing(overfit: Path) -> None:
    before = (overfit / "metrics.jsonl").read_text()
    result = train(compose([*OVERFIT, *STOPPING, "trainer.resume=auto"]), overfit)
    assert (overfit / "metrics.jsonl").read_text() == before
    assert result.ending["stopped_early_at"] == json.loads((overfit / "summary.json").read_text())["stopped_early_at"]


class Stopwatch(Callback):
    """Times fit() and its steps; `save_s`: the longest time from a step's end to its checkpoint (evaluation + save)."""

    def __init__(self) -> None:
        self.start = self.end = self.last = 0.0
        self.first_step = 0
        self.step_s: list[float] = []
        self.save_s = 0.0

    def on_fit_start(self, state: TrainState) -> None:
        self.start = self.last = time.perf_counter()
        self.first_step = state.step + 1

    def on_step_end(self, state: TrainState) -> None:
        now = time.perf_counter()
        self.step_s.append(now - self.last)
        self.last = now

    def on_checkpoint(self, state: TrainState, path: Path) -> None:
        self.save_s = max(self.save_s, time.perf_counter() - self.last)

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        self.end = time.perf_counter()


@pytest.mark.slow
def test_max_time_ends_a_long_run_within_one_step_and_one_save_and_resume_continues(tmp_path: Path) -> None:
    limit = 5.0
    every = [f"trainer.{key}=100" for key in ("eval_every_n_steps", "checkpoint_every_n_steps", "log_every_n_steps")]
    args = [*OVERFIT, "trainer.max_steps=100000", *every]
    first = Stopwatch()
    result = train(compose([*args, f"trainer.max_time={limit:g}"]), tmp_path, callbacks=[first])
    took = first.end - first.start
    assert took <= limit + max(first.step_s) + first.save_s, (took, max(first.step_s), first.save_s)
    assert took > limit / 2  # it used the time it had
    stopped = result.ending["time_limit_reached_at"]
    assert latest_checkpoint(tmp_path / "checkpoints").name == f"step_{stopped:07d}"
    assert "trainer.max_time=5" in result.ending["stop_reason"]
    second = Stopwatch()
    again = train(compose([*args, "trainer.max_time=00:00:05", "trainer.resume=auto"]), tmp_path, callbacks=[second])
    assert second.first_step == stopped + 1 and again.ending["time_limit_reached_at"] > stopped


# (overrides, what the one error line must say): each fails before any work, nothing written
BAD_INPUT = [
    (["trainer.early_stopping.patience=2", "trainer.early_stopping.monitor=val/bleu"],
     ["trainer.early_stopping.monitor=val/bleu is not a metric this task logs", "val/loss, val/accuracy, val/macro_f1"]),
    (["task=language_modeling", "tokenizer=char", "model=transformer_decoder", "trainer.keep_best_checkpoints=2"],
     ["objective=val/accuracy is not a metric this task logs", "val/loss, val/perplexity"]),
    (["trainer.early_stopping.patience=2", "trainer.early_stopping.monitor=accuracy"],
     ["metrics are named <split>/<name>", "val/accuracy"]),
    (["trainer.early_stopping.mode=maximum"], ["trainer.early_stopping.mode", "min, max"]),
    (["trainer.keep_best_checkpoints=2", "objective=''"], ["names none", "trainer.early_stopping.monitor=val/<metric>"]),
    (["trainer.keep_best_checkpoints=2", "trainer.eval_every_n_steps=0"],
     ["trainer.keep_best_checkpoints=2 needs periodic evaluation"]),
    (["trainer.early_stopping.patience=2", "trainer.eval_every_n_steps=0"],
     ["trainer.early_stopping.patience=2 needs periodic evaluation"]),
    (["trainer.early_stopping.patience=0"], ["trainer.early_stopping.patience=0", ">= 1"]),
    (["trainer.keep_best_checkpoints=-1"], ["trainer.keep_best_checkpoints=-1", ">= 0"]),
    (["trainer.max_time=0"], ["trainer.max_time='0'", "above 0"]),
    (["trainer.max_time=-60"], ["trainer.max_time='-60'", "above 0"]),
    (["trainer.max_time=soon"], ["trainer.max_time='soon' is not a duration", "HH:MM:SS"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "expected"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_stopping_input_is_one_message_exit_2_and_nothing_written(
    args: list[str], expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2, out
    for text in expected:
        assert text in out, (text, out)
    assert "Traceback" not in out and out.count("error:") == 1
    assert list(tmp_path.iterdir()) == [], "nothing may be written: no run directory, tokenizer or token cache"
