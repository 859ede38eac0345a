"""Sampling text from any causal language model that follows the task contract.

Uses `model.forward_cached(ids, cache)` when the model has it (one new token per step), else re-runs the
whole context each step. The context never exceeds `context` tokens: the uncached path keeps the last
`context` tokens; the cached path restarts its cache from the last `context // 2` tokens when it is full.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn

from framework import PlaitError, model_device, sample_tokens


class CachedLM(Protocol):
    """The optional fast-decoding step of a language model (framework/task.py)."""

    def forward_cached(self, input_ids: Tensor, cache: Any) -> tuple[Tensor, Any]: ...


@torch.no_grad()
def generate_ids(
    model: nn.Module,
    prompt: list[int],
    *,
    max_new_tokens: int,
    context: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> list[int]:
    """`prompt` followed by `max_new_tokens` sampled ids (greedy when temperature is 0); same seed, same text."""
    if not prompt:
        raise PlaitError("the prompt encodes to no tokens; pass a non-empty prompt=...")
    if max_new_tokens < 0 or context < 2:
        raise PlaitError(f"max_new_tokens={max_new_tokens} must be >= 0 and the context ({context}) >= 2")
    if top_k is not None and top_k < 1 or top_p is not None and not 0 < top_p <= 1:
        raise PlaitError(f"top_k={top_k} must be >= 1 and top_p={top_p} in (0, 1] (or null to disable)")
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    cached = use_cache and callable(getattr(model, "forward_cached", None))
    lm = cast(CachedLM, model)  # called only when `cached`
    cache, filled = None, 0

    def next_logits(ids: Tensor, new: Tensor) -> Tensor:
        """Logits (1, V) of the next position after feeding `new` (or after re-running the context)."""
        nonlocal cache, filled
        if not cached:
            full: Tensor = model(ids[:, -context:], None)
            return full[:, -1].float()
        if cache is None or filled + new.shape[1] > context:  # (re)start the cache from a window
            window = ids[:, -(context if cache is None else context // 2) :]
            logits, cache = lm.forward_cached(window, None)
            filled = window.shape[1]
        else:
            logits, cache = lm.forward_cached(new, cache)
            filled += new.shape[1]
        return logits[:, -1].float()

    ids = torch.tensor([prompt], dtype=torch.long, device=device)  # (1, T)
    return sample_tokens(ids, next_logits, max_new_tokens, temperature, top_k, top_p, generator)[0].tolist()
