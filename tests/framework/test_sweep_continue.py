"""Sweeps that continue after a kill: a stored Optuna study run again, `plait sweep resume` of a grid."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import OmegaConf
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


def plait(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`plait <args>` in `cwd`."""
    cmd = [sys.executable, "-m", "framework.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=ENV, cwd=cwd)


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


def test_sweep_resume_reruns_exactly_the_two_trials_a_kill_left_unfinished(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "grid"
    args = ["trainer.max_steps=30", "trainer.eval_every_n_steps=10", "trainer.checkpoint_every_n_steps=2"]
    args += ["optimizer.lr=1e-3,2e-3,3e-3,4e-3"]
    first_checkpoint = sweep_dir / "2" / "checkpoints" / "step_0000002" / "COMPLETE"
    kill_when(train_m(args, sweep_dir), tmp_path, first_checkpoint.is_file)  # trial 2 mid-run, 3 never started
    assert not (sweep_dir / "2" / "result.json").exists() and not (sweep_dir / "3").exists()
    finished = {t: (sweep_dir / t / "result.json").read_text() for t in ("0", "1")}

    proc = plait("sweep", "resume", str(sweep_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "relaunching 2 trial(s): 2 3" in proc.stdout
    assert re.search(r"trial 2: relaunched in \S+ from its recorded config, from step_\d{7}", proc.stdout)
    assert "trial 3 never started" in proc.stdout and "from the start (no checkpoint)" in proc.stdout
    assert {t: (sweep_dir / t / "result.json").read_text() for t in ("0", "1")} == finished  # left alone
    rows = summary(sweep_dir)
    assert [(r["trial"], r["status"]) for r in rows] == [(str(n), "ok") for n in range(4)]
    evals = [json.loads(line)["step"] for line in (sweep_dir / "2" / "metrics.jsonl").read_text().splitlines()]
    assert sorted(set(evals)) == [10, 20, 30] and evals.count(10) == 2  # a train and a val row; none repeated
    assert OmegaConf.load(sweep_dir / "3" / "config.yaml").optimizer.lr == 4e-3  # its own value, own number


def test_optuna_2_with_sqlalchemy_2_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    optuna = pytest.importorskip("optuna")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from framework.cli.optuna_study import check_storage_support
    from framework.errors import PlaitError

    monkeypatch.setattr(optuna, "__version__", "2.10.1")
    monkeypatch.setattr(sqlalchemy, "__version__", "2.1.9")  # what a stale environment has: optuna's bare assert
    with pytest.raises(PlaitError, match=r"pip install 'sqlalchemy>=1.4,<2'"):
        check_storage_support()
    monkeypatch.setattr(sqlalchemy, "__version__", "1.4.54")  # the sweeps extra's pin
    check_storage_support()
