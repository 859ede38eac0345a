"""bf16 Kahan update by torch-optimi and by the built-in fp32 round trip: the same updates within bf16 rounding
(losses over 100 steps, weight decay, parameters that skip steps), a run continued across backends, and the
choice itself (auto, explicit, unsupported optimizers, optimi missing)."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from framework.errors import PlaitError
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from plugins.precision import kahan

pytest.importorskip("optimi")
load_plugins()
CPU = torch.device("cpu")
BF16_EPS = 2.0**-7  # bf16's relative spacing at 1.0 (8 significand bits)


class Net(nn.Module):
    """Two layers and a norm (kept fp32 by default) on 16 features; `side` is used on even steps only."""

    def __init__(self) -> None:
        super().__init__()
        self.proj, self.norm, self.head, self.side = (
            nn.Linear(16, 64),
            nn.LayerNorm(64),
            nn.Linear(64, 4),
            nn.Linear(64, 4),
        )

    def forward(self, x: torch.Tensor, step: int = 0) -> torch.Tensor:
        h = self.norm(F.gelu(self.proj(x)))
        return self.head(h) + (self.side(h) if step % 2 == 0 else 0)


def setup(backend: str, optimizer: type[torch.optim.Optimizer] = torch.optim.AdamW, **options: float):
    torch.manual_seed(0)
    strategy = PRECISIONS.build({"_name_": "bf16", "update": "kahan", "kahan_backend": backend})
    model = strategy.setup(Net(), CPU)
    return strategy, model, optimizer(model.parameters(), **{"lr": 3e-3, "weight_decay": 0.1, **options})


def train(strategy, model, opt, steps: range) -> list[float]:
    g = torch.Generator().manual_seed(7)
    rule = torch.randn(16, 4, generator=g)
    losses = []
    for step in steps:
        x = torch.randn(32, 16, generator=torch.Generator().manual_seed(step))
        loss = F.cross_entropy(model(x.bfloat16(), step).float(), (x @ rule).argmax(-1))
        strategy.backward(loss)
        strategy.step(opt, 1.0)
        losses.append(loss.item())
    return losses


def true_weights(strategy, model) -> dict[str, torch.Tensor]:
    """Each weight as the Kahan pair represents it: stored bf16 value + compensation, in fp32."""
    comp = strategy.compensation
    return {n: p.detach().float() + (comp[n].float() if n in comp else 0) for n, p in model.named_parameters()}


def test_optimi_matches_the_builtin_over_100_steps() -> None:
    runs = {backend: setup(backend) for backend in ("optimi", "builtin")}
    losses = {backend: train(*run, range(100)) for backend, run in runs.items()}
    assert runs["optimi"][0]._optimi is not None and runs["builtin"][0]._optimi is None
    assert losses["builtin"][-1] < 0.5 * losses["builtin"][0]  # it learns
    for a, b in zip(losses["optimi"], losses["builtin"], strict=True):
        assert abs(a - b) <= 2 * BF16_EPS * max(abs(b), 1e-3)
    weights = {backend: true_weights(run[0], run[1]) for backend, run in runs.items()}
    for name, w in weights["builtin"].items():
        drift = (weights["optimi"][name] - w).norm() / w.norm()
        assert drift < BF16_EPS, f"{name}: relative difference {drift:.2e}"


def test_decoupled_weight_decay_survives_where_bf16_would_round_it_away() -> None:
    decayed = {}
    for backend in ("optimi", "builtin"):
        strategy, model, opt = setup(backend, lr=1e-3, weight_decay=0.01)  # factor 1 - 1e-5: below bf16's ulp
        start = true_weights(strategy, model)["proj.weight"]
        for _ in range(200):
            for p in model.parameters():
                p.grad = torch.zeros_like(p)  # no gradient: only the decay moves the weights
            strategy.step(opt, None)
        decayed[backend] = true_weights(strategy, model)["proj.weight"] / start
    expected = 1 - (1 - 1e-5) ** 200  # the share decayed (plain bf16 rounding: none)
    for backend, ratio in decayed.items():  # the bf16 compensation rounds too (optimi's in more places)
        assert abs((1 - float(ratio.mean())) / expected - 1) < 0.05, backend
        assert float((1 - ratio - expected).abs().max()) < BF16_EPS / 8, backend


def test_a_run_continues_across_backends() -> None:
    """10 steps on one backend, its optimizer and precision state loaded into the other, 10 more: the same losses
    as staying on the first, within bf16 rounding (the moments change convention on the way)."""
    for first, second in (("optimi", "builtin"), ("builtin", "optimi")):
        strategy, model, opt = setup(first)
        train(strategy, model, opt, range(10))
        saved = copy.deepcopy((model.state_dict(), opt.state_dict(), strategy.state_dict()))  # a checkpoint
        assert saved[2]["moments"] == ("debiased" if first == "optimi" else "biased")
        stay = train(strategy, model, opt, range(10, 20))
        moved, model2, opt2 = setup(second)
        model2.load_state_dict(saved[0])
        opt2.load_state_dict(saved[1])
        moved.load_state_dict(saved[2])
        for a, b in zip(train(moved, model2, opt2, range(10, 20)), stay, strict=True):
            assert abs(a - b) <= 2 * BF16_EPS * abs(b)


def test_adam_with_l2_decay_also_matches() -> None:
    runs = [setup(backend, torch.optim.Adam, weight_decay=1e-2) for backend in ("optimi", "builtin")]
    losses = [train(*run, range(30)) for run in runs]
    for a, b in zip(*losses, strict=True):
        assert abs(a - b) <= 2 * BF16_EPS * abs(b)


def test_auto_takes_optimi_on_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    strategy, model, opt = setup("auto")
    train(strategy, model, opt, range(1))
    assert strategy._optimi is None and strategy.moments == "biased"  # CPU: the built-in (as fast, more exact)
    monkeypatch.setattr(kahan, "on_cuda", lambda optimizer: True)  # choose as if on a GPU
    strategy, model, opt = setup("auto")
    strategy._choose(opt)
    assert strategy._optimi is not None and strategy.moments == "debiased"


def test_other_optimizers_run_builtin_under_auto_and_are_refused_by_optimi() -> None:
    strategy, model, opt = setup("auto", torch.optim.SGD, momentum=0.9)
    train(strategy, model, opt, range(2))
    assert strategy._optimi is None and strategy.moments == "biased"
    strategy, model, opt = setup("optimi", torch.optim.AdamW, amsgrad=True)
    with pytest.raises(PlaitError, match="amsgrad.*kahan_backend=builtin"):
        train(strategy, model, opt, range(1))


def test_missing_optimi_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optimi", None)  # import optimi now raises ImportError
    with pytest.raises(PlaitError, match=r"plait\[optimi\]"):
        setup("optimi")
    monkeypatch.setattr(kahan, "on_cuda", lambda optimizer: True)
    strategy, model, opt = setup("auto")
    strategy._choose(opt)
    assert strategy._optimi is None and strategy.moments == "biased"
    with pytest.raises(PlaitError, match="applies to update=kahan"):
        PRECISIONS.build({"_name_": "bf16", "update": "stochastic", "kahan_backend": "optimi"})
