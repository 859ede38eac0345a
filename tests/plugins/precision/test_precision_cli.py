"""The precision strategies through the real `plait` command: fp8's CPU error, and a sweep plus `plait compare`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = [
    "logger=[jsonl]",
    "trainer.device=cpu",
    "trainer.max_steps=4",
    "trainer.batch_size=8",
    "trainer.log_every_n_steps=2",
    "trainer.eval_every_n_steps=4",
    "trainer.checkpoint_every_n_steps=0",
    "model.d_model=32",
    "model.n_layers=1",
    "model.n_heads=2",
    "model.d_ff=64",
]


def plait(*args: str) -> subprocess.CompletedProcess:
    """Run `plait` in a subprocess, as a user would."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)  # what a user sees, not Hydra's debugging traceback
    cmd = [sys.executable, "-m", "framework.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_fp8_on_cpu_fails_cleanly_suggesting_amp_bf16(tmp_path: Path) -> None:
    done = plait("train", "precision=fp8", *TINY, f"hydra.run.dir={tmp_path}")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "compute capability >= 8.9" in done.stderr and "precision=amp_bf16" in done.stderr


@pytest.mark.slow
def test_sweep_over_every_cpu_strategy_then_compare(tmp_path: Path) -> None:
    strategies = ["fp32", "amp_fp16", "amp_bf16", "fp16_master", "bf16", "fp64_master"]
    sweep = plait("train", "-m", f"precision={','.join(strategies)}", *TINY, f"hydra.sweep.dir={tmp_path}")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert not list(tmp_path.glob("*/FAILED"))
    shown = plait("compare", str(tmp_path))
    assert shown.returncode == 0, shown.stderr[-2000:]
    with open(tmp_path / "compare.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["strategy"] for r in rows] == strategies
    assert all(r["steps"] == "4/4" and r["diverged"] == "no" for r in rows)
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "fp16_master" in shown.stdout and "compare.md" in shown.stdout
