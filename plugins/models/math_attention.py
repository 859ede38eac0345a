"""Attention with dropout on the CPU, written out so that its dropout draws random bits: 1.3-1.8x SDPA's math kernel.

On the CPU, SDPA's fused kernels refuse dropout, so training with attention dropout always runs its math kernel,
which for bf16 inputs casts q, k and v to fp32, scales q and k, multiplies in fp32, adds the mask, takes the
softmax, drops with torch's `bernoulli_` dropout (a double per weight), multiplies by v in fp32 and casts back.
Here the two products run in the inputs' dtype, as autocast runs every other matmul of a bf16 step (`bmm` and
`baddbmm` are on its lower-precision list; fp32 inputs stay fp32 throughout), the scale and the mask go into one
`baddbmm` (the mask as an additive bias of half the dtype's lowest value: its exp is exactly 0, and a fully
masked row stays finite in the backward), the softmax reads the scores into fp32 (`softmax(dtype=float32)`,
one pass), and the dropout is `plugins/models/dropout.py`'s. A row with nothing to attend to gets SDPA's answer:
zeros. Measured on `multi30k_transformer`'s shapes in docs/performance.md ("Dropout's random numbers").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from plugins.models.configs import DropoutKernel
from plugins.models.dropout import fast_dropout_ok, keep_noise


def math_attention(
    q: Tensor, k: Tensor, v: Tensor, *, attn_mask: Tensor | None, dropout_p: float, is_causal: bool
) -> Tensor:  # fmt: skip
    """softmax(q k^T / sqrt(Dh) + mask) v with dropout on the weights, for q (B, H, T, Dh), k and v (B, H, S, Dh)
    and a bool mask broadcastable to (B, H, T, S), True where attending is allowed; products in q's dtype, the
    softmax and dropout in fp32. `dropout_p`: 0, or one the bits kernel takes (`fast_dropout_ok`)."""
    if dropout_p > 0 and not fast_dropout_ok(q, dropout_p, DropoutKernel.auto):
        raise ValueError(f"math_attention's dropout runs on the CPU for 16-bit-expressible p, not {dropout_p}")
    *batch, t, dh = q.shape
    s, dv = k.shape[-2], v.shape[-1]
    allowed = attn_mask
    if is_causal:  # SDPA's is_causal: query i sees keys 0 ... i (top-left aligned)
        allowed = torch.ones(t, s, dtype=torch.bool, device=q.device).tril()
    if allowed is None:
        bias, beta = torch.empty(math.prod(batch), t, s, dtype=q.dtype, device=q.device), 0.0  # beta 0: not read
    else:
        lowest = torch.finfo(q.dtype).min / 2
        bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~allowed, lowest)
        bias, beta = bias.expand(*batch, t, s).reshape(-1, t, s), 1.0  # a copy: baddbmm writes over it
    kt = k.reshape(-1, s, dh).transpose(1, 2)
    scores = torch.baddbmm(bias, q.reshape(-1, t, dh), kt, beta=beta, alpha=1 / math.sqrt(dh))
    weights = torch.softmax(scores, -1, dtype=torch.float32).view(*batch, t, s)
    rows = attn_mask.any(-1, keepdim=True) if attn_mask is not None else None  # False: a row may attend nowhere
    if dropout_p > 0:  # SDPA's answer for such a row is 0: folded into the noise, no pass of its own
        noise = keep_noise(weights, dropout_p)
        weights = weights * (noise if rows is None else noise.mul_(rows))
    elif rows is not None:
        weights = weights.masked_fill(~rows, 0.0)
    out = torch.bmm(weights.view(-1, t, s).to(v.dtype), v.reshape(-1, s, dv))
    return out.view(*batch, t, dv)
