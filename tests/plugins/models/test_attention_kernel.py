"""`model.attention_kernel`: which SDPA kernel attention runs on, and that every choice computes the same thing."""

from __future__ import annotations

import pytest
import torch

from plugins.models import transformer_blocks
from plugins.models.transformer_blocks import Attention, AttentionKernel, attend


def _qkv(dtype: torch.dtype) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(2, 3, 16, 8, dtype=dtype, requires_grad=True) for _ in range(3)]


def test_math_and_torch_kernels_agree_in_bf16_forward_and_backward() -> None:
    outs, grads = [], []
    for kernel in (AttentionKernel.math, AttentionKernel.torch):
        q, k, v = _qkv(torch.bfloat16)
        y = attend(q, k, v, kernel=kernel, is_causal=True)
        y.float().square().sum().backward()
        outs.append(y.float())
        grads.append(torch.cat([t.grad.float().flatten() for t in (q, k, v)]))
    torch.testing.assert_close(outs[0], outs[1], atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(grads[0], grads[1], atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize(
    ("kernel", "dtype", "grad", "math"),
    [
        (AttentionKernel.auto, torch.bfloat16, True, True),  # bf16 training on CPU: the math kernel
        (AttentionKernel.auto, torch.bfloat16, False, False),  # inference keeps torch's pick
        (AttentionKernel.auto, torch.float32, True, False),
        (AttentionKernel.torch, torch.bfloat16, True, False),
        (AttentionKernel.math, torch.float32, False, True),
    ],
)
def test_auto_picks_math_only_for_bf16_training_on_cpu(
    kernel: AttentionKernel, dtype: torch.dtype, grad: bool, math: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen: list[object] = []
    real = transformer_blocks.sdpa_kernel
    monkeypatch.setattr(transformer_blocks, "sdpa_kernel", lambda backend: chosen.append(backend) or real(backend))
    q, k, v = _qkv(dtype)
    with torch.set_grad_enabled(grad):
        attend(q, k, v, kernel=kernel)
    assert bool(chosen) is math


def test_attention_module_takes_the_kernel_by_name() -> None:
    assert Attention(16, 2, 0.0, kernel="math").kernel is AttentionKernel.math  # type: ignore[arg-type]
