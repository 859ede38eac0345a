"""Choosing the next token from logits, and the one autoregressive sampling loop every generating model and
task shares: greedy when the temperature is 0, else temperature, top-k and nucleus (top-p) sampling.
Shapes: B batch, T length, V vocabulary."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from framework.errors import PlaitError


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Next-token ids (B, 1) from last-position logits (B, V): greedy when temperature is 0, else sampled."""
    if temperature < 0:
        raise PlaitError(f"temperature={temperature} must be >= 0 (0 means greedy)")
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:  # keep the k largest logits
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:  # nucleus: the smallest set of tokens whose probability reaches top_p
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p  # mass before this token already reaches top_p
        drop[..., 0] = False  # always keep the most likely token
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


def sample_tokens(
    ids: Tensor,
    next_logits: Callable[[Tensor, Tensor], Tensor],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The one sampling loop: ids (B, T) -> (B, T + max_new_tokens).

    `next_logits(ids, new)` returns the logits (B, V) of the position after `ids`, where `new` holds the ids
    added since the previous call (all of `ids` at the first call), so a cached model feeds only those.
    """
    logits = next_logits(ids, ids)
    for step in range(max_new_tokens):
        next_id = sample_next(logits, temperature, top_k, top_p, generator)  # (B, 1)
        ids = torch.cat([ids, next_id], dim=1)
        if step < max_new_tokens - 1:
            logits = next_logits(ids, next_id)
    return ids
