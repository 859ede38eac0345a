"""`plait tune lr|batch-size <overrides>` as a user runs it: curve and probes written where asked (never into a
run), a run started from with `trainer.resume=` left byte for byte as it was, the override to use printed."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from framework.cli import main
from framework.cli.commands.tune import main as tune
from framework.errors import PlaitError
from framework.testing import QUICK, run_quick

SMALL = ["precision=fp32", "tokenizer=char", "model.d_model=16", "model.n_heads=2", "model.d_ff=32", "model.n_layers=1"]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` with the hash of its bytes (and its modification time)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() + f"@{p.stat().st_mtime_ns}"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(tmp_path / "cache"))
    run_quick([*SMALL, "trainer.max_steps=3"], tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.slow
def test_tune_lr_from_a_run_writes_only_where_asked(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    before = tree_digest(run_dir)
    checkpoint = sorted((run_dir / "checkpoints").glob("step_*"))[-1]
    main(["tune", "lr", *QUICK, *SMALL, f"trainer.resume={checkpoint}", "steps=30", "out=curves"])
    out = capsys.readouterr().out
    assert tree_digest(run_dir) == before  # the run is exactly as it was
    rows = list(csv.DictReader((tmp_path / "curves" / "lr_find.csv").open()))
    assert len(rows) > 10 and set(rows[0]) == {"step", "lr", "loss", "smoothed_loss"}
    assert (tmp_path / "curves" / "lr_find.png").stat().st_size > 1000
    assert "falls fastest against log(rate)" in out  # the rule is stated
    assert "suggested: optimizer.lr=" in out or "no suggestion" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "curves", "run"]  # nothing else written here


def test_tune_refuses_to_write_into_a_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("trainer: {}\n")
    with pytest.raises(PlaitError, match="never writes into a run"):
        tune(["lr", *QUICK, *SMALL, f"out={run_dir / 'sub'}"])
    assert not (run_dir / "sub").exists()


def test_tune_needs_what_to_tune() -> None:
    with pytest.raises(PlaitError, match="lr or batch-size"):
        tune(["learning-rate"])
    with pytest.raises(PlaitError, match="steps=3: the range test needs at least 10"):
        tune(["lr", "steps=3"])
    with pytest.raises(PlaitError, match="steps=3: the range test needs at least 10"):
        tune(["lr", "--steps", "3"])  # the --key value spelling of every command


@pytest.mark.slow
def test_tune_batch_size_suggests_the_accumulation_for_a_wanted_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(tmp_path / "cache"))
    main(["tune", "batch-size", *QUICK, *SMALL, "max_batch=8", "steps=2", "want=20"])  # 8 = the cap here
    out = capsys.readouterr().out
    assert "largest that fits: 8" in out
    assert "suggested: trainer.batch_size=5 trainer.grad_accum_steps=4" in out  # 20 = 4 x 5 (5 >= 8/2)
    assert (tmp_path / "batch_size.csv").is_file() and (tmp_path / "batch_size.png").is_file()
