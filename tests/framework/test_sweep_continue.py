"""Sweeps that continue after a kill: a stored Optuna study run again."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_sweeps import ENV, summary, sweep, train_m


def kill_when(cmd: list[str], cwd: Path, ready: Callable[[], bool], timeout: float = 240) -> None:
    """Start `cmd` and kill it (SIGKILL) as soon as `ready()` holds."""
    with open(cwd / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"ended before the kill: {(cwd / 'killed.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the kill point never came"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()


def test_a_stored_optuna_study_killed_after_three_of_six_trials_ends_with_six_when_run_again(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    sweep_dir = tmp_path / "optuna"
    args = ["+hparams_search=sentiment_optuna", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s"]
    args += ["trainer.max_steps=4", "trainer.eval_every_n_steps=2", "trainer.checkpoint_every_n_steps=2"]
    kill_when(train_m(args, sweep_dir), tmp_path, lambda: (sweep_dir / "3" / "metrics.jsonl").is_file())
    assert sorted(p.parent.name for p in sweep_dir.glob("*/result.json")) == ["0", "1", "2"]
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3 + ["RUNNING"]  # trial 3 was killed

    proc = sweep(args, sweep_dir)  # the same command again
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trial 3: relaunched in" in proc.stdout  # the killed trial, in its own directory
    study = optuna.load_study(study_name="s", storage=storage)
    assert [(t.number, t.state.name) for t in study.trials] == [(n, "COMPLETE") for n in range(6)]
    for t in study.trials:  # trial n of the study is the run in <sweep>/n
        result = json.loads((sweep_dir / str(t.number) / "result.json").read_text())
        assert result["objective"] == pytest.approx(t.value)
    rows = summary(sweep_dir)
    assert [r["trial"] for r in rows] == [str(n) for n in range(6)] and {r["status"] for r in rows} == {"ok"}
