"""Positional encodings for the transformer models: `learned`, `sinusoidal` (added to the token
embeddings) and `rope` (rotary, Su et al. 2021: rotates queries and keys inside attention).

Shapes: B batch, T length, D d_model, H heads, Dh = D / H head width. Positions are (T,) or (B, T).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from framework import PlaitError
from plugins.models.configs import Positional

POSITIONAL_KINDS = Positional.values()

Rope = tuple[Tensor, Tensor]  # (cos, sin), each (1 | B, 1, T, Dh / 2), broadcast over heads


def sinusoidal_table(max_length: int, dim: int, base: float = 10000.0) -> Tensor:
    """(max_length, dim) fixed sin/cos encodings of Vaswani et al. 2017 (sin on even, cos on odd columns)."""
    pos = torch.arange(max_length, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(base) / dim))  # (ceil(dim/2),)
    table = torch.zeros(max_length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


class PositionalEncoding(nn.Module):
    """Where a token sits: `add()` adds learned/sinusoidal vectors to embeddings, `rope()` gives rotary tables."""

    table: Tensor  # buffers, registered for their kind only: sinusoidal (L, D); rope cos and sin (L, Dh/2)
    cos: Tensor
    sin: Tensor

    def __init__(self, kind: str, max_length: int, d_model: int, n_heads: int, rope_base: float = 10000.0) -> None:
        super().__init__()
        if kind not in POSITIONAL_KINDS:
            raise PlaitError(f"model.positional='{kind}' is not known; choose one of {', '.join(POSITIONAL_KINDS)}")
        self.kind = kind
        self.max_length = max_length
        self.learned = nn.Embedding(max_length, d_model) if kind == "learned" else None
        if self.learned is not None:  # same scale as token embeddings: unit-std positions drown them
            nn.init.normal_(self.learned.weight, std=0.02)
        if kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_table(max_length, d_model), persistent=False)  # (L, D)
        if kind == "rope":
            head_dim = d_model // n_heads
            if head_dim % 2:
                raise PlaitError(
                    f"positional=rope needs an even head width, but d_model/n_heads = {d_model}/{n_heads} = "
                    f"{head_dim}; change model.d_model or model.n_heads"
                )
            inv_freq = base_frequencies(head_dim, rope_base)  # (Dh/2,)
            angles = torch.outer(torch.arange(max_length, dtype=torch.float32), inv_freq)  # (L, Dh/2)
            self.register_buffer("cos", angles.cos(), persistent=False)
            self.register_buffer("sin", angles.sin(), persistent=False)

    def add(self, x: Tensor, positions: Tensor) -> Tensor:
        """x (B, T, D) + encodings of `positions`; unchanged for rope."""
        if self.learned is not None:
            learned: Tensor = self.learned(positions)
            return x + learned
        if self.kind == "sinusoidal":
            return x + self.table[positions].to(x.dtype)
        return x

    def rope(self, positions: Tensor) -> Rope | None:
        """Rotary (cos, sin) tables for `positions`, shaped to broadcast over (B, H, T, Dh/2); None unless rope."""
        if self.kind != "rope":
            return None
        cos, sin = self.cos[positions], self.sin[positions]  # (T, Dh/2) or (B, T, Dh/2)
        if positions.dim() == 1:
            return cos[None, None], sin[None, None]
        return cos[:, None], sin[:, None]


def base_frequencies(head_dim: int, base: float = 10000.0) -> Tensor:
    """(Dh/2,) rotation speeds: base^(-2i/Dh), i = 0 .. Dh/2 - 1."""
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)


def apply_rope(x: Tensor, rope: Rope) -> Tensor:
    """Rotate pairs (x_i, x_{i+Dh/2}) of x (B, H, T, Dh) by position-dependent angles (GPT-NeoX layout)."""
    cos, sin = (t.to(x.dtype) for t in rope)
    x1, x2 = x.chunk(2, dim=-1)  # (B, H, T, Dh/2) each
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
