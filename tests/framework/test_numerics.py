"""NumericsProbe telemetry and locate_nonfinite on small hand-made models."""

from __future__ import annotations

import torch
from torch import nn

from framework.engine.numerics import NumericsProbe, all_finite, locate_nonfinite, tensor_megabytes


class Blowup(nn.Module):
    """Multiplies by a huge factor: overflows fp16 but not fp32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1e38 * 1e38


def test_probe_measures_underflow_zeros_and_update_ratio() -> None:
    w = nn.Parameter(torch.ones(1000))
    w.grad = torch.cat([torch.full((500,), 1e-9), torch.full((250,), 1e-2), torch.zeros(250)])
    probe = NumericsProbe(torch.float16, samples_per_tensor=1000)
    probe.before_update([w], torch.tensor(3.0))
    with torch.no_grad():
        w.mul_(1.01)
    probe.after_update([w])
    out = probe.read()
    assert out["grad_norm"] == 3.0
    assert abs(out["grad_underflow"] - 500 / 750) < 1e-6  # 1e-9 is below fp16's smallest subnormal (6e-8)
    assert out["grad_zeros"] == 0.25
    assert abs(out["update_ratio"] - 0.01) < 1e-5
    assert probe.read() == {}  # cleared after reading


def test_probe_in_bf16_sees_no_underflow_of_the_same_gradients() -> None:
    w = nn.Parameter(torch.ones(10))
    w.grad = torch.full((10,), 1e-9)
    probe = NumericsProbe(torch.bfloat16)
    probe.before_update([w], None)
    assert probe.read()["grad_underflow"] == 0.0  # bf16 has fp32's exponent range


def test_locate_names_the_first_forward_module() -> None:
    model = nn.Sequential(nn.Linear(4, 4), Blowup(), nn.Linear(4, 2))
    finding = locate_nonfinite(model, lambda: model(torch.randn(3, 4)).sum(), lambda loss: loss.backward())
    assert (finding.module, finding.module_type, finding.phase, finding.dtype) == ("1", "Blowup", "forward", "float32")


def test_locate_names_non_finite_weights_first() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    finding = locate_nonfinite(model, lambda: model(torch.randn(3, 4)).sum(), lambda loss: loss.backward())
    assert (finding.module, finding.phase) == ("1", "weights")


def test_locate_returns_none_when_everything_is_finite() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2))  # in-place: hooks fall back
    assert locate_nonfinite(model, lambda: model(torch.randn(3, 4)).sum(), lambda loss: loss.backward()) is None
    assert all(p.grad is None for p in model.parameters())


def test_all_finite_and_megabytes() -> None:
    assert all_finite([torch.ones(3), None]) and not all_finite([torch.tensor([1.0, float("inf")])])
    t = torch.zeros(2**18)  # 1 MiB of fp32
    assert tensor_megabytes([t, t, t[:10], "not a tensor"]) == 1.0  # shared storage counted once
