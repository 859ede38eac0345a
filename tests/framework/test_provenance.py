"""Provenance: a real `plait train` from a git repository with an uncommitted change records the commit, the
diff and the command line, and no environment variable outside the allow-list reaches the run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from framework.engine import provenance
from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.git_state import capped, git_state
from framework.secrets import REDACTED

TINY = [
    "trainer.device=cpu",
    "trainer.max_steps=2",
    "trainer.batch_size=8",
    "trainer.eval_every_n_steps=2",
    "task.demo_size=200",
    "model.d_model=32",
    "logger=[console,jsonl,wandb]",
    "logger.wandb.mode=offline",
]
SECRET = "sk-secret-123"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a throwaway identity; returns its stdout."""
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit and an uncommitted change to a tracked file."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    (root / "model.py").write_text("width = 32\n")
    git(root, "add", "model.py")
    git(root, "commit", "-q", "-m", "first")
    (root / "model.py").write_text("width = 64  # tried on a whim\n")
    return root


@pytest.mark.slow
def test_a_run_from_a_dirty_repository_records_commit_diff_and_command_and_no_other_environment(repo: Path) -> None:
    run_dir = repo / "outputs" / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MY_API_TOKEN": SECRET, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "framework.cli", "train", *TINY, f"hydra.run.dir={run_dir}"]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]

    record = json.loads((run_dir / "provenance.json").read_text())
    assert record["git"]["commit"] == git(repo, "rev-parse", "HEAD") and record["git"]["dirty"] is True
    assert record["git"]["root"] == str(repo.resolve()) and record["git"]["branch"] == git(
        repo, "branch", "--show-current"
    )
    diff = (run_dir / record["git"]["diff"]).read_text()
    assert "-width = 32" in diff and "+width = 64  # tried on a whim" in diff
    assert record["command"] == ["plait", "train", *TINY, f"hydra.run.dir={run_dir}"]
    assert record["env"]["OMP_NUM_THREADS"] == "1" and "MY_API_TOKEN" not in record["env"]
    assert record["runtime"]["torch"] == torch.__version__ and record["packages"]["plait"]
    assert record["cwd"] == str(repo)
    state = load_state(latest_checkpoint(run_dir / "checkpoints"))
    assert state["provenance"] == record  # the checkpoint carries the same record

    leaked = [
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert leaked == [], f"the secret environment value reached {leaked}"
    assert any(run_dir.rglob("*.wandb")), "W&B wrote its offline run (and the secret is not in it)"


def test_outside_a_repository_the_record_says_so(tmp_path: Path) -> None:
    state = git_state(tmp_path)
    assert state.root is None and state.note == "not a git repository"
    assert state.record(provenance.DIFF_FILE) == {
        "root": None, "commit": None, "branch": None, "dirty": None, "note": "not a git repository"
    }  # fmt: skip


def test_without_git_installed_the_record_says_so(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    state = git_state(repo)
    assert state.root == str(repo.resolve()) and state.commit is None and state.note == "git is not installed"


def test_a_git_that_takes_too_long_is_a_note_not_a_wait(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.engine import git_state as module

    monkeypatch.setattr(module, "TIMEOUT_S", 1e-6)
    state = git_state(repo)
    assert state.note == "git timed out after 1e-06 s" and "diff" not in state.record(provenance.DIFF_FILE)


def test_a_clean_checkout_has_no_diff_and_a_new_repository_no_commit(repo: Path, tmp_path: Path) -> None:
    git(repo, "commit", "-q", "-am", "second")
    clean = git_state(repo / "outputs")  # any directory inside the work tree
    assert clean.dirty is False and clean.diff == b"" and clean.commit == git(repo, "rev-parse", "HEAD")
    assert "diff" not in clean.record(provenance.DIFF_FILE)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    assert git_state(fresh).note == "no commit yet"


def test_a_long_diff_is_cut_with_a_note() -> None:
    diff = b"".join(b"+line %d\n" % i for i in range(1000))
    kept = capped(diff, limit=100)
    assert kept.startswith(b"+line 0\n") and len(kept) < 200
    assert kept.endswith(b"# plait: diff cut at 98 of %d bytes\n" % len(diff))
    assert capped(diff) == diff


def test_only_allow_listed_variables_are_recorded_and_credential_names_redacted() -> None:
    env = {
        "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "0,1", "NCCL_DEBUG": "INFO", "TORCH_LOGS": "+dynamo",
        "PLAIT_HUB_TOKEN": SECRET, "MY_API_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET, "HOME": "/root",
        provenance.COMMAND_ENV: "[]",
    }  # fmt: skip
    assert provenance.environment(env) == {
        "CUDA_VISIBLE_DEVICES": "0,1", "NCCL_DEBUG": "INFO", "OMP_NUM_THREADS": "2",
        "PLAIT_HUB_TOKEN": REDACTED, "TORCH_LOGS": "+dynamo",
    }  # fmt: skip


def test_the_command_line_is_recorded_with_credential_values_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(provenance.COMMAND_ENV, raising=False)
    provenance.set_command(["plait", "train", "optimizer.lr=1e-3", "--hub-token", SECRET])
    assert provenance.command_line() == ["plait", "train", "optimizer.lr=1e-3", "--hub-token", REDACTED]
    monkeypatch.delenv(provenance.COMMAND_ENV)
    assert provenance.command_line()[0] == sys.argv[0]  # from Python: this process's own command line


def test_a_resumed_run_keeps_the_earlier_starts_and_their_diffs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = repo / "run"
    run_dir.mkdir()
    first = provenance.write(run_dir, cwd=repo)
    (repo / "model.py").write_text("width = 128\n")
    second = provenance.write(run_dir, resumed=True, cwd=repo)
    assert second["earlier"][0]["git"]["diff_sha256"] == first["git"]["diff_sha256"]
    assert "+width = 64" in (run_dir / second["earlier"][0]["git"]["diff"]).read_text()  # git.1.diff
    assert "+width = 128" in (run_dir / "git.diff").read_text()
    git(repo, "commit", "-q", "-am", "second")
    fresh = provenance.write(run_dir, cwd=repo)  # a new start (overwrite): no history, no stale diff
    assert "earlier" not in fresh and not (run_dir / "git.diff").exists() and fresh["git"]["dirty"] is False


def fake_run(run_dir: Path, repo: Path, lr: float) -> Path:
    """A finished run as far as describe and compare read it, its provenance recorded from `repo`."""
    run_dir.mkdir(parents=True)
    cfg = {
        "precision": {"_name_": "fp32"},
        "optimizer": {"lr": lr},
        "trainer": {"max_steps": 2},
        "objective": "val/loss",
    }
    (run_dir / "config.yaml").write_text(json.dumps(cfg))  # YAML reads JSON
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 2, "train/loss": 1.5, "val/loss": 1.25}) + "\n")
    provenance.write(run_dir, cwd=repo)
    return run_dir


def test_describe_shows_a_runs_provenance_without_importing_torch(repo: Path, tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path / "runs" / "a", repo, 0.1)
    script = (
        "import sys; from framework.cli import main; main(['describe', sys.argv[1]]); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(run_dir)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "False"  # reading a run's JSON needs no torch
    code = next(line for line in lines if line.startswith("code"))
    assert git(repo, "rev-parse", "HEAD") in code and "uncommitted changes in git.diff" in code
    assert any(line.startswith("command ") for line in lines) and "val/loss 1.25" in done.stdout


def test_describe_of_a_run_from_before_provenance_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from framework.cli import main

    (tmp_path / "config.yaml").write_text("objective: val/loss\n")
    main(["describe", str(tmp_path)])
    assert "provenance not recorded" in " ".join(capsys.readouterr().out.split())


def test_compare_tabulates_commits_dirty_trees_and_differing_keys(repo: Path, tmp_path: Path, capsys) -> None:
    from framework.cli import main

    first = fake_run(tmp_path / "runs" / "a", repo, 0.1)
    git(repo, "commit", "-q", "-am", "wider")
    second = fake_run(tmp_path / "runs" / "b", repo, 0.2)
    main(["compare", str(first), str(second), "--out", str(tmp_path / "report")])
    out = capsys.readouterr().out
    assert "what differs" in out and "optimizer.lr" in out
    from framework.cli.run_provenance import provenance_rows

    rows = provenance_rows([first, second])
    commits = [git(repo, "rev-parse", "HEAD~1")[:12], git(repo, "rev-parse", "HEAD")[:12]]
    assert [(r["run"], r["commit"], r["dirty"][:3], r["optimizer.lr"]) for r in rows] == [
        ("a", commits[0], "yes", "0.1"),
        ("b", commits[1], "no", "0.2"),
    ]
