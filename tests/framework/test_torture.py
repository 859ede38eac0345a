"""kill -9 torture: a tiny training killed inside checkpoint saves, resumed with trainer.resume=auto each time,
ends bit-identical (weights and metrics rows) to a run that was never interrupted; with early stopping and best
checkpoints on, it also stops at the same step with the same best checkpoints, pointer and summary.

The kills come from the PLAIT_FAULT_INJECT test hook in framework/checkpoint.py (`<point>:<step>`: the
process calls os._exit(137) at that point of that step's save, as kill -9 would leave it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from kill_resume import metric_rows, starts, train_in_subprocess

from framework.engine.checkpoint import latest_checkpoint, load_state

pytestmark = pytest.mark.slow  # ~6 s per training subprocess on 2 CPU cores

OVERRIDES = [
    "trainer.max_steps=8",
    "trainer.checkpoint_every_n_steps=2",
    "trainer.keep_last_checkpoints=1",  # pruning at every save: the riskiest setting
    "trainer.eval_every_n_steps=4",
    "trainer.log_every_n_steps=1",
]


def _train(run_dir: Path, fault: str | None = None, resume: bool = False, settings: list[str] = OVERRIDES) -> int:
    return train_in_subprocess(run_dir, [*settings, *(["trainer.resume=auto"] if resume else [])], fault)


_starts, _rows = starts, metric_rows


def _assert_same_as(run_dir: Path, straight: Path) -> None:
    a = load_state(latest_checkpoint(straight / "checkpoints"))
    b = load_state(latest_checkpoint(run_dir / "checkpoints"))
    assert a["step"] == b["step"] == 8
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert _rows(run_dir) == _rows(straight)
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step_0000008"]  # no debris, keep_last=1


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("straight")
    assert _train(run_dir) == 0
    return run_dir


def test_three_kills_in_a_row_inside_saves_then_resume_matches(tmp_path: Path, straight: Path) -> None:
    assert _train(tmp_path, "after_temp_write:4") == 137  # step 4's state.pt written, not committed
    assert _train(tmp_path, "during_prune:6", resume=True) == 137  # step 6 committed, step 4 half-deleted
    assert _train(tmp_path, "before_rename:8", resume=True) == 137  # the final save never committed
    assert _train(tmp_path, resume=True) == 0
    assert _starts(tmp_path) == [0, 2, 6, 6]  # each resume starts at the newest committed checkpoint
    _assert_same_as(tmp_path, straight)


def test_kill_after_commit_before_prune_then_resume_matches(tmp_path: Path, straight: Path) -> None:
    assert _train(tmp_path, "after_rename:4") == 137
    assert _train(tmp_path, resume=True) == 0
    assert _starts(tmp_path) == [0, 4]
    _assert_same_as(tmp_path, straight)


def test_relaunch_of_finished_run_killed_while_replacing_resumes_from_it(tmp_path: Path, straight: Path) -> None:
    assert _train(tmp_path) == 0
    relaunch = _train(tmp_path, "replacing:8", resume=True)  # the finished step moved aside, new one not in
    assert _train(tmp_path, resume=True) == 0
    assert relaunch == 0 or _starts(tmp_path) == [0, 8, 8]  # never restarts from scratch
    _assert_same_as(tmp_path, straight)


# Overfits (60 sentences): val/loss is best at step 20 and early stopping (patience 2) ends the run at step 30.
STOPPING = [  # the kills below are placed on this run's trajectory (its best steps, its stop): torch's dropout masks
    "model.dropout_kernel=torch",
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
    "trainer.keep_last_checkpoints=1",
    "trainer.keep_best_checkpoints=2",
    "trainer.early_stopping.patience=2",
]


def _ending(run_dir: Path) -> dict:
    """What the run's summary says about its stop and its best, and its checkpoints directory."""
    summary = json.loads((run_dir / "summary.json").read_text())
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    return {**{k: v for k, v in summary.items() if k != "run_dir"}, "pointer": best, "names": names}


def test_kills_with_early_stopping_and_best_checkpoints_resume_to_the_same_stop_and_best(tmp_path: Path) -> None:
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert _train(straight, settings=STOPPING) == 0
    assert _train(run, "after_rename:10", settings=STOPPING) == 137  # best step 10 committed, pointer not yet moved
    assert _train(run, "during_prune:20", resume=True, settings=STOPPING) == 137  # best 20 in, 10 half-deleted
    assert _train(run, "before_rename:30", resume=True, settings=STOPPING) == 137  # the stop's save never landed
    assert _train(run, resume=True, settings=STOPPING) == 0
    assert _starts(run) == [0, 10, 20, 25]
    ending = _ending(run)
    assert ending == _ending(straight) and ending["stopped_early_at"] == 30
    a, b = load_state(latest_checkpoint(straight / "checkpoints")), load_state(latest_checkpoint(run / "checkpoints"))
    assert a["watch"] == b["watch"] and a["step"] == b["step"] == 30
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert _rows(run) == _rows(straight)


# Everything of the training day at once: early stopping (patience 3), the 2 best checkpoints, an EMA of the
# weights evaluated beside them, the learning rate halved on a val/loss plateau, and batches of at most 200 tokens
# (about 5 per epoch, so the checkpoints every 4 steps fall mid-epoch). Straight, the lr drops at steps 8, 28, 32,
# the best is step 20 and the run stops at step 32.
ALL_ON = [
    *(s for s in STOPPING if "_every_n_steps" not in s and "patience" not in s),
    "trainer.eval_every_n_steps=4",
    "trainer.checkpoint_every_n_steps=4",
    "trainer.log_every_n_steps=4",
    "trainer.early_stopping.patience=3",
    "callback=[ema]",
    "callback.ema.decay=0.9",
    "scheduler=plateau",
    "scheduler.patience=0",
    "trainer.max_tokens=200",
]


def test_kills_with_everything_on_resume_bit_exact(tmp_path: Path) -> None:
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert _train(straight, settings=ALL_ON) == 0
    assert _train(run, "after_rename:12", settings=ALL_ON) == 137  # mid-epoch, just after a plateau cut
    assert load_state(latest_checkpoint(run / "checkpoints"))["data"]["batch_in_epoch"] not in (0, 5)
    assert _train(run, "during_prune:28", resume=True, settings=ALL_ON) == 137  # 28 in, 24 half-deleted
    assert _train(run, resume=True, settings=ALL_ON) == 0
    assert _starts(run) == [0, 12, 28]
    ending = _ending(run)
    assert ending == _ending(straight) and ending["stopped_early_at"] > 28
    a, b = load_state(latest_checkpoint(straight / "checkpoints")), load_state(latest_checkpoint(run / "checkpoints"))
    assert a["watch"] == b["watch"] and a["scheduler"] == b["scheduler"] and a["data"] == b["data"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    ema_a, ema_b = (next(o for o in s["observers"] if o and "weight_sets" in o)["weight_sets"]["ema"] for s in (a, b))
    assert ema_a.keys() == ema_b.keys() and all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)
    rows = _rows(straight)
    assert rows == _rows(run)
    lrs = [r["train/lr"] for r in rows if "train/lr" in r]
    assert len(set(lrs)) > 2  # the plateau schedule lowered the rate (twice at least) on the way
    assert any("val_ema/loss" in r for r in rows)
