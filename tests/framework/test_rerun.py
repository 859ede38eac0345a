"""`plait rerun`: a new run from a past run's recorded config plus overrides, its parent recorded; a default changed
in conf/ since the first run changes nothing; `plait compare` shows exactly the override and the parent link;
code and package drift warns, and --strict refuses before anything is written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_runs import run_cli

import framework.plugins
from framework.cli import main
from framework.cli.hydra_app import compose_checked
from framework.cli.rerun import drift
from framework.cli.run_files import flatten, load_config
from framework.cli.run_provenance import provenance_rows
from framework.engine import provenance
from framework.engine.git_state import git_state

TINY = [
    "logger=[jsonl]", "precision=fp32", "trainer.device=cpu", "trainer.batch_size=8", "trainer.max_steps=4",
    "trainer.log_every_n_steps=2", "trainer.eval_every_n_steps=2", "task.demo_size=200", "tokenizer=char",
    "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32",
]  # fmt: skip


def plait(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str]:
    """`plait <args>` in this process: (exit code, stderr + stdout)."""
    try:
        main(args)
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.err + out.out


@pytest.mark.slow
def test_a_rerun_after_a_default_changed_differs_from_its_parent_only_by_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(framework.plugins.conf_dir(), conf)
    monkeypatch.setattr(framework.plugins, "conf_dir", lambda: conf)
    first, second = tmp_path / "first", tmp_path / "second"
    code, out = run_cli([*TINY, f"hydra.run.dir={first}"], tmp_path, monkeypatch, capsys)
    assert code == 0, out

    # after the first run, two defaults of the composed config change (conf/train.yaml edited by a team mate)
    train_yaml = (conf / "train.yaml").read_text()
    new_defaults = {"  batch_size: 32\n": "  clip_grad_norm: 0.25\n", "  lr: 3.0e-3\n": "  weight_decay: 0.3\n"}
    for line, added in new_defaults.items():
        assert line in train_yaml
        train_yaml = train_yaml.replace(line, line + added)
    (conf / "train.yaml").write_text(train_yaml)
    today = compose_checked(TINY, conf)
    assert today.trainer.clip_grad_norm == 0.25 and today.optimizer.weight_decay == 0.3  # `plait train` would differ

    code, out = plait(["rerun", str(first), "optimizer.lr=0.0123", f"hydra.run.dir={second}"], capsys)
    assert code == 0, out
    assert f"rerun of {first} with optimizer.lr=0.0123 into {second}" in out
    old, new = flatten(load_config(first)), flatten(load_config(second))
    assert old["trainer.clip_grad_norm"] == 1.0 and old["optimizer.lr"] == 3e-3
    assert {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)} == {"optimizer.lr"}
    assert new["optimizer.lr"] == 0.0123
    record = json.loads((second / provenance.PROVENANCE_FILE).read_text())
    assert record["parent"] == {"run_dir": str(first.resolve()), "overrides": ["optimizer.lr=0.0123"]}
    assert record["command"][:3] == ["plait", "rerun", str(first)]

    rows = {row["run"]: row for row in provenance_rows([first, second])}  # compare's "what differs" table
    assert rows["second"]["parent"] == "first" and rows["first"]["parent"] == "-"
    fixed = {"run", "commit", "dirty", "parent", "plait commit", "plait dirty"}  # always shown
    assert set(rows["second"]) - fixed == {"optimizer.lr"}
    assert rows["second"]["optimizer.lr"] == "0.0123" and rows["first"]["optimizer.lr"] == "0.003"
    code, out = plait(["compare", str(first), str(second), "--out", str(tmp_path / "report")], capsys)
    table = out[out.index("what differs") :].splitlines()
    assert code == 0 and any("parent" in line and "optimizer.lr" in line for line in table)
    assert any(line.split("│")[1:2] == [" second "] and " first " in line and "0.0123" in line for line in table)
    code, out = plait(["describe", str(second)], capsys)
    assert code == 0 and f"{first.resolve()} (plait rerun) with optimizer.lr=0.0123" in " ".join(out.split())


@pytest.mark.slow
def test_one_trial_of_a_sweep_reruns_and_the_sweep_itself_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep"
    code, out = run_cli(["-m", *TINY, "trainer.seed=1,2", f"hydra.sweep.dir={sweep}"], tmp_path, monkeypatch, capsys)
    assert code == 0, out
    again = tmp_path / "again"
    code, out = plait(["rerun", str(sweep / "1"), "trainer.max_steps=2", f"hydra.run.dir={again}"], capsys)
    assert code == 0, out
    old, new = flatten(load_config(sweep / "1")), flatten(load_config(again))
    assert old["trainer.seed"] == 2 and {k for k in old if old[k] != new.get(k)} == {"trainer.max_steps"}
    code, out = plait(["rerun", str(sweep)], capsys)
    assert code == 2 and "is a sweep: rerun one of its trials" in out and "plait sweep resume" in out


def recorded_run(run_dir: Path, packages: dict[str, str]) -> Path:
    """A past run's config and provenance, recorded from this checkout with `packages` as its versions."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("trainer:\n  max_steps: 3\noptimizer:\n  _name_: adamw\n  lr: 0.01\n")
    record = provenance.write(run_dir)
    record["packages"] = packages
    (run_dir / provenance.PROVENANCE_FILE).write_text(json.dumps(record))
    return run_dir


def test_a_changed_package_or_commit_warns_and_strict_refuses_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = provenance.packages()
    changed = {**now, "torch": "1.0.0", "plait-old-plugin": "0.1"}
    run_dir = recorded_run(tmp_path / "run", changed)
    found = drift(provenance.read(run_dir), Path.cwd())
    assert f"package torch: 1.0.0 then, {now['torch']} now" in found
    assert "package plait-old-plugin: 0.1 then, not installed now" in found
    target = tmp_path / "new"
    code, out = plait(["rerun", str(run_dir), "optimizer.lr=0.1", f"hydra.run.dir={target}", "--strict"], capsys)
    assert code == 2 and "--strict: what would run now differs" in out and "package torch: 1.0.0 then" in out
    assert not target.exists()


def git(repo: Path, *args: str) -> None:
    """Run git in `repo` with a throwaway identity."""
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, check=True)


def test_a_new_commit_or_other_uncommitted_changes_are_named(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "model.py").write_text("width = 32\n")
    git(repo, "add", "model.py")
    git(repo, "commit", "-q", "-m", "first")
    record = {"git": git_state(repo).record(None), "packages": provenance.packages()}
    assert drift(record, repo) == []
    (repo / "model.py").write_text("width = 64\n")
    assert drift(record, repo)[0].startswith("code: uncommitted changes differ (the run: none; now: diff sha256 ")
    git(repo, "commit", "-q", "-am", "second")
    was, now = record["git"]["commit"][:12], git_state(repo).commit[:12]  # type: ignore[index]
    assert drift(record, repo) == [f"code: the run was at commit {was}, the checkout is at {now}"]
    assert drift(None, repo) == ["the run has no provenance.json: its code and package versions cannot be checked"]


def test_bad_rerun_arguments_are_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("optimizer:\n  _name_: adamw\n  lr: 0.01\n")
    remote = tmp_path / "remote"  # a run that kept its checkpoints in object storage: a rerun needs its own prefix
    remote.mkdir()
    (remote / "config.yaml").write_text("trainer:\n  checkpoint_dir: s3://bucket/runs/first\n")
    for args, message in [
        ([], "usage: plait rerun <run dir>"),
        ([str(tmp_path / "none")], "is not a directory"),
        ([str(run_dir), "--fast"], "unknown option --fast"),
        ([str(run_dir), "model=lstm"], "has no key 'model'"),
        ([str(run_dir), "optimizer=sgd"], "keeps the recorded optimizer"),
        ([str(run_dir), "hydra.job.name=x"], "config overrides and hydra.run.dir=<dir> only"),
        ([str(run_dir), f"hydra.run.dir={run_dir}"], "is the run itself"),
        ([str(run_dir), "logger.wandb.api_key=abc"], "looks like a credential"),
        ([str(remote), "trainer.seed=3"], "kept its checkpoints at trainer.checkpoint_dir=s3://bucket/runs/first"),
    ]:
        code, out = plait(["rerun", *args], capsys)
        assert code == 2 and message in " ".join(out.split()), (args, out)


def test_a_rerun_under_torchrun_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    code, out = plait(["rerun", str(tmp_path)], capsys)
    assert code == 2 and "not under torchrun" in out


def test_a_resumed_rerun_keeps_its_parent_and_a_fresh_start_drops_it(tmp_path: Path) -> None:
    parent = {"run_dir": "/runs/first", "overrides": ["optimizer.lr=0.1"]}
    assert provenance.write(tmp_path, parent=parent)["parent"] == parent
    assert provenance.write(tmp_path, resumed=True)["parent"] == parent  # continued in place
    assert "parent" not in provenance.write(tmp_path)  # trainer.overwrite=true: a new run, not a rerun
