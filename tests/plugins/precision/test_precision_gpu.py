"""Strategies on a real CUDA device (skipped without one by tests/conftest.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from toy_training import KillAfterCheckpoint, Killed, ToyNet, toy_trainer

from framework.errors import UnsupportedPrecisionError
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins

load_plugins()
GPU_STRATEGIES = ["fp32", "amp_fp16", "amp_bf16", "fp16_master", "bf16", "fp64_master"]


@pytest.mark.gpu
@pytest.mark.parametrize("name", GPU_STRATEGIES)
def test_trains_on_cuda(name: str, tmp_path: Path) -> None:
    trainer = toy_trainer(name, tmp_path, device="cuda", max_steps=8)
    metrics = trainer.fit()
    assert math.isfinite(metrics["val/loss"])
    assert next(trainer.parts.model.parameters()).device.type == "cuda"
    assert trainer.history[-2]["sys/peak_memory_mb"] > 0


@pytest.mark.gpu
@pytest.mark.parametrize(
    "precision", [{"_name_": "fp16_master", "growth_interval": 2}, {"_name_": "bf16", "update": "stochastic"}]
)
def test_resume_is_exact_on_cuda(precision: dict, tmp_path: Path) -> None:
    straight = toy_trainer(dict(precision), tmp_path / "a", device="cuda")
    straight.fit()
    with pytest.raises(Killed):
        toy_trainer(dict(precision), tmp_path / "b", device="cuda", callbacks=[KillAfterCheckpoint(3)]).fit()
    resumed = toy_trainer(dict(precision), tmp_path / "b", device="cuda", resume=True)
    resumed.fit()
    for a, b in zip(straight.parts.model.parameters(), resumed.parts.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.gpu
def test_fp8_trains_or_explains(tmp_path: Path) -> None:
    capable = torch.cuda.get_device_capability() >= (8, 9)
    if not capable:
        with pytest.raises(UnsupportedPrecisionError, match="amp_bf16"):
            PRECISIONS.build({"_name_": "fp8"}).setup(ToyNet(), torch.device("cuda"))
        return
    pytest.importorskip("torchao", reason="fp8 needs torchao installed")
    trainer = toy_trainer({"_name_": "fp8", "compile": False}, tmp_path, device="cuda", max_steps=8)
    assert trainer.parts.precision.converted == ["proj"]  # head and norm kept in higher precision
    metrics = trainer.fit()
    assert math.isfinite(metrics["val/loss"])
