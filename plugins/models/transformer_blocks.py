"""Transformer building blocks shared by the encoder, decoder and seq2seq models.

Shapes: B batch, T sequence length, D d_model, H heads. Attention runs on
`scaled_dot_product_attention`, which picks flash / memory-efficient kernels when it can.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from framework.registry import PlaitError

POSITIONAL_KINDS = ("learned", "sinusoidal")


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos position encodings (Vaswani et al. 2017), added to token embeddings."""

    def __init__(self, max_length: int, d_model: int) -> None:
        super().__init__()
        pos = torch.arange(max_length).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_length, d_model)
        table[:, 0::2] = torch.sin(pos * div)
        table[:, 1::2] = torch.cos(pos * div[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        """(T,) positions -> (T, D) encodings."""
        return self.table[positions]


def make_positions(kind: str, max_length: int, d_model: int) -> nn.Module:
    """A positional encoding module by name (`learned` or `sinusoidal`)."""
    if kind == "learned":
        return nn.Embedding(max_length, d_model)
    if kind == "sinusoidal":
        return SinusoidalPositions(max_length, d_model)
    raise PlaitError(f"model.positional='{kind}' is not known; choose one of {', '.join(POSITIONAL_KINDS)}")


class SelfAttention(nn.Module):
    """Multi-head self-attention on SDPA; `mask` is (B, 1, 1|T, T) bool, True where attending is allowed."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise PlaitError(f"model.d_model={d_model} must be divisible by model.n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.n_heads)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=is_causal)
        return self.out(rearrange(y, "b h t d -> b t (h d)"))


class FeedForward(nn.Module):
    """Position-wise MLP: D -> d_ff -> D with GELU."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """Pre-norm block: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, eps=norm_eps)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=norm_eps)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask, is_causal))
        return x + self.drop(self.ff(self.norm2(x)))


def padding_mask(attention_mask: Tensor) -> Tensor:
    """(B, T) keep-mask -> (B, 1, 1, T) boolean mask SDPA broadcasts over heads and queries."""
    return attention_mask.bool()[:, None, None, :]
