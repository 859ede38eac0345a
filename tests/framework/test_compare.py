"""`plait compare` over hand-made run directories: discovery, the table, the files, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from framework.cli import main as plait_main
from framework.cli.compare import compare, find_runs
from framework.engine.numerics import REPORT_FILE
from framework.errors import PlaitError


def fake_run(run_dir: Path, precision: dict, speed: float, losses: list[float], skipped: float = 0.0) -> Path:
    """A run directory as framework.engine.run leaves it: config.yaml, metrics.jsonl (and a Hydra .hydra/ copy)."""
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = {"precision": precision, "trainer": {"max_steps": 10 * len(losses)}, "objective": "val/accuracy"}
    for path in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        path.write_text(yaml.safe_dump(cfg))
    rows = []
    for i, loss in enumerate(losses, 1):
        rows.append({"step": 10 * i, "train/loss": loss, "train/tokens_per_s": speed * (0.1 if i == 1 else 1.0),
                     "sys/peak_memory_mb": 100.0 + i, "sys/state_mb": 2.0, "precision/skipped_steps": skipped})  # fmt: skip
    rows.append({"step": 10 * len(losses), "val/loss": losses[-1] + 0.1, "val/accuracy": 0.75})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A multirun directory with jobs 0, 1, 2 and 10 (numeric order matters)."""
    fake_run(tmp_path / "0", {"_name_": "fp32", "tf32": False}, 1000.0, [1.2, 1.0, 0.8])
    fake_run(tmp_path / "1", {"_name_": "bf16", "update": "plain"}, 2000.0, [1.2, 1.1, 1.0])
    fake_run(tmp_path / "2", {"_name_": "bf16", "update": "kahan"}, 1500.0, [1.2, 1.0, 0.9])
    fake_run(tmp_path / "10", {"_name_": "fp16_master"}, 3000.0, [1.2, float("nan")], skipped=5.0)
    (tmp_path / "10" / REPORT_FILE).write_text("{}")
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    return tmp_path


def test_find_runs_skips_hydra_copies_and_orders_numerically(sweep: Path) -> None:
    assert [p.name for p in find_runs([sweep])] == ["0", "1", "2", "10"]
    assert find_runs([sweep / "2", sweep / "0"]) == [sweep / "2", sweep / "0"]


def test_compare_writes_table_markdown_and_png(sweep: Path) -> None:
    result = compare([sweep])
    assert [f.name for f in result.files] == ["compare.csv", "compare.md", "compare.png"]
    assert all(f.parent == sweep for f in result.files)
    assert (sweep / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(sweep / "compare.csv") as fh:
        rows = {r["run"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"fp32", "bf16 update=plain", "bf16 update=kahan", "fp16_master"}
    fp32, plain, broken = rows["fp32"], rows["bf16 update=plain"], rows["fp16_master"]
    assert fp32["tokens/s"] == "1000" and fp32["speed vs fp32"] == "1.00x"  # median skips the warm-up window
    assert plain["speed vs fp32"] == "2.00x" and plain["train loss"] == "1" and plain["val/accuracy"] == "0.75"
    assert fp32["peak MB"] == "103" and fp32["state MB"] == "2" and fp32["steps"] == "30/30"
    assert broken["diverged"] == "yes" and broken["skipped steps"] == "5" and fp32["diverged"] == "no"
    assert fp32["best tokens/s"] == "1000"
    assert "| fp32 | fp32 | 30/30 | 1000 | 1.00x | 1000 |" in (sweep / "compare.md").read_text()


def test_compare_command_prints_the_table(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report"
    plait_main(["compare", str(sweep / "0"), str(sweep / "1"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "fp32" in printed and "bf16" in printed and f"wrote {out / 'compare.png'}" in printed
    assert (out / "compare.md").is_file()


def test_compare_without_runs_explains(tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match="no run found"):
        compare([tmp_path])
