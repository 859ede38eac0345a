"""precision=auto resolves once, from the device's capability, to a concrete strategy that config.yaml records."""

from __future__ import annotations

import warnings

import pytest
import torch
from omegaconf import OmegaConf
from toy_training import ToyNet

from framework.engine.build import resolve_precision
from framework.engine.config import TrainConfig
from framework.hardware import CPU_BF16_ENV
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from plugins.precision.amp import EmulatedPrecisionWarning

load_plugins()
CPU = torch.device("cpu")


def test_auto_picks_fp32_where_bf16_is_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    node, reason = resolve_precision(OmegaConf.create({"_name_": "auto"}), CPU)
    assert node._name_ == "fp32" and node.tf32 is False  # the full fp32 schema, ready to save
    assert reason == f"precision=auto -> fp32 on cpu: {CPU_BF16_ENV}=emulated"


def test_auto_picks_amp_bf16_where_bf16_is_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "native")
    node, reason = resolve_precision(OmegaConf.create({"_name_": "auto"}), CPU)
    assert node._name_ == "amp_bf16" and list(node.keep_fp32) == []
    assert reason.startswith("precision=auto -> amp_bf16 on cpu")


def test_resolved_node_replaces_auto_in_a_typed_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    cfg = OmegaConf.structured(TrainConfig)
    cfg.precision = {"_name_": "auto"}
    cfg.precision, _ = resolve_precision(cfg.precision, CPU)
    assert "_name_: fp32" in OmegaConf.to_yaml(cfg.precision)
    assert PRECISIONS.build(cfg.precision).name == "fp32"


def test_concrete_precisions_are_left_alone() -> None:
    node = OmegaConf.create({"_name_": "amp_fp16", "init_scale": 8.0})
    assert resolve_precision(node, CPU) == (node, None)


def test_auto_used_directly_delegates_to_the_resolved_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "native")
    strategy = PRECISIONS.build({"_name_": "auto"})
    model = strategy.setup(ToyNet(), CPU)
    assert strategy.inner.name == "amp_bf16"
    with strategy.autocast():
        assert model.proj(torch.randn(2, 16)).dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["amp_bf16", "bf16"])
def test_bf16_by_name_warns_once_where_emulated(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    with pytest.warns(EmulatedPrecisionWarning, match=f"precision={name} runs emulated here") as record:
        PRECISIONS.build({"_name_": name}).setup(ToyNet(), CPU)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    monkeypatch.setenv(CPU_BF16_ENV, "native")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PRECISIONS.build({"_name_": name}).setup(ToyNet(), CPU)


def test_describe_says_what_auto_picks_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from framework.cli.describe import print_describe

    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    print_describe("precision/auto")
    assert "Here: precision=auto -> fp32 on cpu" in capsys.readouterr().out


@pytest.mark.parametrize(("capability", "expected"), [("emulated", "fp32"), ("native", "amp_bf16")])
def test_a_run_with_auto_records_and_prints_the_resolved_precision(
    capability: str, expected: str, tmp_path, monkeypatch, capsys
) -> None:

    from framework.testing import run_quick

    monkeypatch.setenv("PLAIT_CPU_BF16", capability)
    result = run_quick(["trainer.max_steps=2", "task.demo_size=200", "model.d_model=16", "model.n_heads=2"], tmp_path)
    assert f"-> {expected}" in capsys.readouterr().out
    assert OmegaConf.load(tmp_path / "config.yaml").precision._name_ == expected
    assert "sys/startup_s" in result.history[0] and "sys/startup_s" not in result.history[-1]
