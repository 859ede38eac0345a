"""Each built-in strategy's own promises: scaling, master weights, bf16 update modes, keep-fp32 policy, fp8 errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn
from toy_training import ToyNet, toy_trainer

from framework.cli.describe import field_comments
from framework.errors import NonFiniteError, UnsupportedPrecisionError
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from framework.schema import NAME_FIELD
from plugins.precision.policy import matches
from plugins.precision.scaler import LossScaleConfig, LossScaler

load_plugins()
CPU = torch.device("cpu")


def build(name: str, **options: object):
    """A strategy by key with options."""
    return PRECISIONS.build({"_name_": name, **options})


@pytest.mark.parametrize("name", PRECISIONS.names())
def test_every_option_is_documented(name: str) -> None:
    cls = PRECISIONS.config_class(name)
    comments = field_comments(cls)
    assert cls.__doc__
    for f in dataclasses.fields(cls):
        assert f.name == NAME_FIELD or comments.get(f.name), f"{name}.{f.name} has no trailing comment"


def test_loss_scaler_grows_backs_off_and_stops_at_the_minimum() -> None:
    scaler = LossScaler(LossScaleConfig(init_scale=8.0, growth_interval=2, min_scale=2.0))
    finite, inf = [torch.ones(3)], [torch.tensor([1.0, float("inf")])]
    assert not scaler.unscale_([torch.full((2,), 8.0)]) and scaler.scale == 8.0
    assert not scaler.unscale_(finite) and scaler.scale == 16.0  # grew after 2 clean steps
    assert scaler.unscale_(inf) and scaler.scale == 8.0
    assert scaler.unscale_(inf) and scaler.unscale_(inf) and scaler.scale == 2.0  # clamped at min_scale
    state = scaler.state_dict()
    with pytest.raises(NonFiniteError, match="min_scale=2.0"):
        scaler.unscale_(inf)
    again = LossScaler(LossScaleConfig())
    again.load_state_dict(state)
    assert again.state_dict() == state == {"scale": 2.0, "good_steps": 0, "skipped_steps": 3}
    assert scaler.metrics()["overflows"] == 4.0 and scaler.metrics()["overflows"] == 0.0


def test_unscale_divides_gradients_in_place() -> None:
    g = torch.full((4,), 6.0)
    LossScaler(LossScaleConfig(init_scale=3.0)).unscale_([g])
    assert torch.equal(g, torch.full((4,), 2.0))


def test_fp16_master_keeps_fp32_masters_and_norms() -> None:
    strategy = build("fp16_master")
    model = strategy.setup(ToyNet(), CPU)
    assert strategy.kept_fp32 == ["norm"]
    assert model.proj.weight.dtype == torch.float16 and model.norm.weight.dtype == torch.float32
    master = strategy.optimizer_target(model)
    assert master is not model and all(p.dtype == torch.float32 for p in master.parameters())
    assert model(torch.randn(2, 16)).dtype == torch.float16  # fp32 inputs are cast; the norm hands back fp16


def test_master_update_lands_in_the_master_and_the_model() -> None:
    strategy = build("fp64_master")
    model = strategy.setup(ToyNet(), CPU)
    master = strategy.optimizer_target(model)
    opt = torch.optim.SGD(master.parameters(), lr=0.1)
    for _ in range(2):  # two micro-batches accumulate in fp64
        strategy.backward(model(torch.randn(4, 16)).square().mean())
        assert all(p.grad is None for p in model.parameters())
    assert master.proj.weight.grad.dtype == torch.float64
    before = master.proj.weight.detach().clone()
    assert strategy.step(opt, None, measure=True)
    assert not torch.equal(before, master.proj.weight)
    assert torch.equal(model.proj.weight, master.proj.weight.float())
    assert {"grad_norm", "grad_underflow", "grad_zeros", "update_ratio"} <= strategy.metrics().keys()


@pytest.mark.parametrize(("update", "survives"), [("plain", False), ("kahan", True), ("stochastic", True)])
def test_bf16_small_updates(update: str, survives: bool) -> None:
    torch.manual_seed(0)
    strategy = build("bf16", update=update, keep_fp32=[])
    model = strategy.setup(nn.Linear(256, 1, bias=False), CPU)
    nn.init.ones_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)  # 1e-4 is far below bf16's ulp at 1.0 (2**-7)
    for _ in range(100):
        model.weight.grad = torch.ones_like(model.weight)
        strategy.step(opt, None)
    mean = model.weight.float().mean().item()
    assert model.weight.dtype == torch.bfloat16
    assert (abs(mean - 0.99) < 2e-3) is survives and (mean == 1.0) is not survives


def test_bf16_optimizer_state_stays_bf16(tmp_path: Path) -> None:
    trainer = toy_trainer({"_name_": "bf16", "update": "kahan"}, tmp_path, max_steps=1)
    strategy, opt = trainer.parts.precision, trainer.parts.optimizer
    model = trainer.parts.model
    strategy.backward(model(torch.randn(4, 16)).square().mean())
    strategy.step(opt, 1.0)
    assert opt.state[model.proj.weight]["exp_avg"].dtype == torch.bfloat16
    assert opt.state[model.norm.weight]["exp_avg"].dtype == torch.float32  # kept fp32 by default


def test_amp_keep_fp32_runs_outside_autocast() -> None:
    strategy = build("amp_bf16", keep_fp32=["head"])
    model = strategy.setup(ToyNet(), CPU)
    with strategy.autocast():
        assert model.proj(torch.randn(2, 16)).dtype == torch.bfloat16
        assert model(torch.randn(2, 16)).dtype == torch.float32  # the head ran in fp32


def test_patterns_match_names_classes_and_regexes() -> None:
    norm = nn.LayerNorm(4)
    assert matches("blocks.0.norm1", norm, ["*norm*"])
    assert matches("ln_f", norm, ["LayerNorm"])
    assert matches("blocks.3.ff", nn.Linear(1, 1), [r"re:blocks\.\d+\.ff"])
    assert not matches("head", nn.Linear(1, 1), ["*norm*", "re:body"])


def test_fp8_on_cpu_says_use_amp_bf16() -> None:
    with pytest.raises(UnsupportedPrecisionError, match="compute capability >= 8.9.*precision=amp_bf16"):
        build("fp8").setup(ToyNet(), CPU)


def test_bf16_rejects_an_unknown_update() -> None:
    with pytest.raises(Exception, match=r"expected one of \[plain, kahan, stochastic\]"):
        build("bf16", update="magic")
