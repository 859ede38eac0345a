"""The written-out attention (CPU training with attention dropout) computes what SDPA's math kernel computes:
same outputs and gradients without dropout, for padding, causal and fully masked rows, in fp32 (to fp32 rounding)
and bf16 (to bf16 rounding: its products run in bf16); with dropout, the weights times the bits kernel's noise;
and `attend` routes to it only for `auto`, where SDPA would run its math kernel."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from plugins.models import transformer_blocks
from plugins.models.configs import AttentionKernel, DropoutKernel
from plugins.models.dropout import keep_noise
from plugins.models.math_attention import math_attention


def _inputs(dtype: torch.dtype, t: int = 6, s: int = 6) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(3, 2, t, 8, generator=g).to(dtype).requires_grad_()
    k, v = (torch.randn(3, 2, s, 8, generator=g).to(dtype).requires_grad_() for _ in range(2))
    return q, k, v


def _masks(t: int, s: int) -> dict[str, dict[str, object]]:
    padding = torch.ones(3, 1, 1, s, dtype=torch.bool)
    padding[1, ..., 4:] = False
    empty_row = padding.clone()
    empty_row[2] = False  # a sequence with nothing to attend to: SDPA gives zeros
    per_query = torch.rand(3, 1, t, s, generator=torch.Generator().manual_seed(1)) > 0.4
    per_query[0, 0, 1] = False  # one query of one sequence sees nothing
    return {
        "none": {"attn_mask": None, "is_causal": False},
        "padding": {"attn_mask": padding, "is_causal": False},
        "empty row": {"attn_mask": empty_row, "is_causal": False},
        "per query, some rows empty": {"attn_mask": per_query, "is_causal": False},
        "causal": {"attn_mask": None, "is_causal": True},
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("case", list(_masks(6, 6)))
def test_same_outputs_and_gradients_as_sdpa_math_without_dropout(dtype: torch.dtype, case: str) -> None:
    results = []
    for composed in (True, False):
        q, k, v = _inputs(dtype)
        options = _masks(6, 6)[case]
        if composed:
            y = math_attention(q, k, v, dropout_p=0.0, **options)  # type: ignore[arg-type]
        else:
            with sdpa_kernel(SDPBackend.MATH):
                y = F.scaled_dot_product_attention(q, k, v, **options)  # type: ignore[arg-type]
        y.float().square().sum().backward()
        results.append([y.float(), *(t.grad.float() for t in (q, k, v))])  # type: ignore[union-attr]
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 2e-2, "rtol": 1e-2}
    assert torch.isfinite(results[0][0]).all()
    for ours, sdpa in zip(*results, strict=True):
        torch.testing.assert_close(ours, sdpa, **tol)


@pytest.mark.parametrize("case", ["padding", "empty row", "per query, some rows empty"])
def test_with_dropout_the_weights_are_multiplied_by_the_bits_noise(case: str) -> None:
    q, k, v = _inputs(torch.float32, t=5, s=7)
    mask = _masks(5, 7)[case]["attn_mask"]
    torch.manual_seed(4)
    y = math_attention(q, k, v, attn_mask=mask, dropout_p=0.2, is_causal=False)  # type: ignore[arg-type]
    y.square().sum().backward()
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(8)
    weights = scores.masked_fill(~mask, -math.inf).softmax(-1).nan_to_num(0.0)  # type: ignore[operator]
    torch.manual_seed(4)
    expected = (weights * keep_noise(weights, 0.2)) @ v
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(y, weights @ v, atol=1e-3)  # something was dropped
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kernel", "dropout_kernel", "p", "composed"),
    [
        (AttentionKernel.auto, DropoutKernel.auto, 0.1, True),
        (AttentionKernel.math, DropoutKernel.auto, 0.1, False),  # SDPA's math kernel itself, the reference
        (AttentionKernel.torch, DropoutKernel.auto, 0.1, False),  # torch's pick, as the name says
        (AttentionKernel.auto, DropoutKernel.torch, 0.1, False),
        (AttentionKernel.auto, DropoutKernel.auto, 0.0, False),  # eval / no dropout: SDPA's fused kernels
    ],
)
def test_attend_composes_only_for_dropout_with_the_bits_kernel(
    kernel: AttentionKernel, dropout_kernel: DropoutKernel, p: float, composed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = transformer_blocks.math_attention

    def spy(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(kwargs["dropout_p"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transformer_blocks, "math_attention", spy)
    q, k, v = _inputs(torch.bfloat16)
    transformer_blocks.attend(q, k, v, kernel=kernel, dropout_kernel=dropout_kernel, dropout_p=p)
    assert calls == ([p] if composed else [])
