"""Pooling a sequence of vectors into one, over the real tokens only (shared by the encoders)."""

from __future__ import annotations

from torch import Tensor

from framework import PlaitError


def masked_pool(out: Tensor, keep: Tensor, how: str) -> Tensor:
    """outputs (B, T, F) -> (B, F): mean or max over the real tokens that `keep` (B, T) marks."""
    weights = keep.unsqueeze(-1).to(out.dtype)  # (B, T, 1)
    if how == "mean":
        return (out * weights).sum(1) / weights.sum(1).clamp_min(1.0)
    if how == "max":
        return out.masked_fill(~keep.bool().unsqueeze(-1), float("-inf")).amax(1)
    raise PlaitError(f"pooling '{how}' is not known; choose mean, max or last")
