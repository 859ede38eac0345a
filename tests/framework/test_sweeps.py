"""Sweeps through Hydra's launchers and sweepers: parallel trials (joblib), Optuna, submitit_local, the summary,
median stopping."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

TINY = [
    "trainer.device=cpu",
    "trainer.max_steps=3",
    "trainer.batch_size=8",
    "trainer.eval_every_n_steps=3",
    "trainer.checkpoint_every_n_steps=0",
    "task.demo_size=400",
    "model.d_model=32",
]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train_m(args: list[str], sweep_dir: Path, loggers: str = "[jsonl]") -> list[str]:
    """The command line of `plait train -m ...` into `sweep_dir`."""
    cmd = [sys.executable, "-m", "framework.cli", "train", "-m", *TINY, f"logger={loggers}", *args]
    return [*cmd, f"hydra.sweep.dir={sweep_dir}"]


def sweep(
    args: list[str], sweep_dir: Path, timeout: float = 120, loggers: str = "[jsonl]"
) -> subprocess.CompletedProcess:
    """`plait train -m ...` into `sweep_dir`."""
    cmd = train_m(args, sweep_dir, loggers)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=sweep_dir.parent)


def summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as fh:
        return list(csv.DictReader(fh))


def test_joblib_runs_trials_in_parallel_records_the_bad_one_and_exits_non_zero(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer.lr=1e-3,3e-3,-1"], sweep_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = summary(sweep_dir)
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert [r["status"] for r in rows[:2]] == ["ok", "ok"] and rows[2]["status"].startswith("failed")
    assert "optimizer.lr" in rows[2]["status"] and rows[2]["overrides"] == "optimizer.lr=-1"
    assert all(0 <= float(r["objective"]) <= 1 for r in rows[:2])
    assert (sweep_dir / "summary.md").read_text().count("\n") == 5 and "sweep summary" in proc.stdout
    result = json.loads((sweep_dir / "0" / "result.json").read_text())
    assert result["concurrent_trials"] == 2  # each trial knew it shares the machine with one other
    compare = subprocess.run(
        [sys.executable, "-m", "framework.cli", "compare", str(sweep_dir)], capture_output=True, text=True, timeout=60
    )
    assert compare.returncode == 0, compare.stderr


def test_a_value_that_cannot_be_composed_fails_its_own_trial_not_the_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["optimizer.lr=1e-3,bad,3e-3"], sweep_dir)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = summary(sweep_dir)
    assert [r["status"] for r in rows[:2]] == ["ok", "ok"] and [r["trial"] for r in rows] == ["0", "1", "rejected_0"]
    assert "optimizer.lr=bad" in rows[2]["overrides"] and "could not be converted to Float" in rows[2]["status"]
    compare = subprocess.run(
        [sys.executable, "-m", "framework.cli", "compare", str(sweep_dir)], capture_output=True, text=True, timeout=60
    )
    assert compare.returncode == 0 and "trial rejected_0 (optimizer.lr=bad) has no run" in compare.stdout


def test_a_sweep_without_failures_exits_zero_and_lists_where_loggers_keep_each_trial(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = sweep(["optimizer.lr=1e-3,3e-3", "logger.wandb.mode=offline"], sweep_dir, loggers="[jsonl,wandb]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary(sweep_dir)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for trial, row in zip("01", rows, strict=True):  # the W&B logger's run_location(), through result.json
        where = Path(json.loads((sweep_dir / trial / "result.json").read_text())["logged"]["wandb"])
        assert where.parent == sweep_dir / trial / "wandb" and where.name.startswith("offline-run-"), where
        assert where.is_dir() and row["logged"] == f"wandb: {where}"  # jsonl has no location of its own


def test_optuna_preset_runs_six_trials_and_reports_the_best(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "optuna"
    proc = sweep(["+hparams_search=sentiment_optuna", "trainer.max_steps=2", "trainer.eval_every_n_steps=2"], sweep_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = summary(sweep_dir)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    best = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert best.best_value == pytest.approx(max(float(r["objective"]) for r in rows), rel=1e-3)  # table: 4 digits


def test_median_stop_prunes_the_clearly_bad_trial_and_the_summary_says_so(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "median"
    args = ["trainer.max_steps=12", "trainer.batch_size=16", "trainer.eval_every_n_steps=3", "scheduler=constant"]
    args += ["objective=val/loss", "+callback=median_stop", "optimizer.lr=3e-3,1e-2,1.0"]  # lr=1: loss ~10-40
    proc = sweep(args, sweep_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]  # a pruned trial is not a failure
    assert [r["status"] for r in summary(sweep_dir)] == ["ok", "ok", "pruned"]
    assert "median_stop: val/loss" in proc.stdout
    steps = [json.loads(line)["step"] for line in (sweep_dir / "2" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 6  # stopped at its second evaluation (the first is the warmup)
    assert json.loads((sweep_dir / "2" / "result.json").read_text())["objective"] > 2  # its last value counts


@pytest.mark.slow
def test_submitit_local_runs_two_trials(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "submitit"
    proc = sweep(["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "optimizer.lr=1e-3,3e-3"], sweep_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["status"] for r in summary(sweep_dir)] == ["ok", "ok"]
