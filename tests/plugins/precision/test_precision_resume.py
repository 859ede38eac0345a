"""Every strategy that runs on CPU resumes exactly: N steps straight == k steps, a kill, resume=auto, to N."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_training import KillAfterCheckpoint, Killed, toy_trainer

from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.errors import UnsupportedPrecisionError
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins

load_plugins()


def runs_on_cpu(name: str) -> bool:
    """Whether `name` can be set up on this machine's CPU."""
    try:
        PRECISIONS.build({"_name_": name}).setup(torch.nn.Linear(16, 16), torch.device("cpu"))
    except UnsupportedPrecisionError:
        return False
    return True


CPU_STRATEGIES = [{"_name_": n} for n in PRECISIONS.names() if runs_on_cpu(n)] + [
    {"_name_": "bf16", "update": "plain"},
    {"_name_": "bf16", "update": "stochastic"},
    {"_name_": "amp_fp16", "growth_interval": 2},  # the scale changes before and after the kill
    {"_name_": "fp16_master", "growth_interval": 2, "init_scale": 1024.0},
]


def logged(run_dir: Path) -> list[dict]:
    """metrics.jsonl without wall-clock dependent values."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("sys/") and not k.endswith("_per_s")} for r in rows]


def assert_same_tensors(a: object, b: object, where: str) -> None:
    """Nested dicts/lists equal, tensors with torch.equal."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_the_sweep_covers_the_cpu_strategies() -> None:
    names = {c["_name_"] for c in CPU_STRATEGIES}
    assert {"fp32", "amp_fp16", "amp_bf16", "fp16_master", "bf16", "fp64_master"} <= names
    assert "fp8" not in names  # needs compute capability >= 8.9


@pytest.mark.parametrize("precision", CPU_STRATEGIES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_resume_is_exact(precision: dict, tmp_path: Path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    toy_trainer(dict(precision), straight).fit()
    with pytest.raises(Killed):
        toy_trainer(dict(precision), resumed, callbacks=[KillAfterCheckpoint(3)]).fit()
    assert latest_checkpoint(resumed / "checkpoints").name == "step_0000003"
    toy_trainer(dict(precision), resumed, resume=True).fit()

    assert logged(straight) == logged(resumed)  # every step's loss, lr, telemetry and eval
    a = load_state(latest_checkpoint(straight / "checkpoints"))
    b = load_state(latest_checkpoint(resumed / "checkpoints"))
    for key in ("model", "optimizer", "precision", "scheduler", "step"):
        assert_same_tensors(a[key], b[key], key)
