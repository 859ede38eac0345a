"""Continuing a prompt with any causal language model that follows the task contract: sampled, greedy or beam.

Uses `model.forward_cached(ids, cache)` when the model has it (one new token per step; beam search also needs
`model.reorder_cache(cache, rows)`), else re-runs the whole context each step. The context never exceeds
`context` tokens: the uncached path keeps the last `context` tokens; the cached path restarts its cache from
the last `context // 2` tokens when it is full.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn

from framework import PlaitError, model_device, sample_tokens
from plugins.tasks.beam_search import beam_decode


class CachedLM(Protocol):
    """The optional fast-decoding steps of a language model (framework/task.py)."""

    def forward_cached(self, input_ids: Tensor, cache: Any) -> tuple[Tensor, Any]: ...
    def reorder_cache(self, cache: Any, rows: Tensor) -> Any: ...


class LMStepper:
    """A causal LM as the sampling and beam loops step it: logits (B, V) after `ids`, through the cache if any."""

    def __init__(self, model: nn.Module, context: int, *, use_cache: bool, beams: bool) -> None:
        self.model, self.lm, self.context = model, cast(CachedLM, model), context
        needs = ("forward_cached", "reorder_cache") if beams else ("forward_cached",)
        self.cached = use_cache and all(callable(getattr(model, name, None)) for name in needs)
        self.cache: Any = None
        self.filled = 0  # positions in the cache

    def __call__(self, ids: Tensor, new: Tensor) -> Tensor:
        """Logits (B, V) of the next position after feeding `new` (or after re-running the context)."""
        if not self.cached:
            full: Tensor = self.model(ids[:, -self.context :], None)
            return full[:, -1].float()
        if self.cache is None or self.filled + new.shape[1] > self.context:  # (re)start the cache from a window
            window = ids[:, -(self.context if self.cache is None else self.context // 2) :]
            logits, self.cache = self.lm.forward_cached(window, None)
            self.filled = window.shape[1]
        else:
            logits, self.cache = self.lm.forward_cached(new, self.cache)
            self.filled += new.shape[1]
        return logits[:, -1].float()

    def reorder(self, rows: Tensor) -> None:
        """Beam search kept rows `rows`: the cache follows them."""
        if self.cached and self.cache is not None:
            self.cache = self.lm.reorder_cache(self.cache, rows)


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
    beam_size: int = 1,
    eos_id: int | None = None,
    length_penalty: float = 0.6,
) -> list[int]:
    """`prompt` followed by `max_new_tokens` ids: sampled (greedy when temperature is 0; same seed, same text), or
    the best beam of `beam_size` > 1 (sampling options unused; a beam ending in `eos_id` stops there)."""
    if not prompt:
        raise PlaitError("the prompt encodes to no tokens; pass a non-empty prompt=...")
    if max_new_tokens < 0 or context < 2 or beam_size < 1:
        raise PlaitError(
            f"max_new_tokens={max_new_tokens} must be >= 0, beam_size={beam_size} >= 1 and the context ({context}) >= 2"
        )
    if top_k is not None and top_k < 1 or top_p is not None and not 0 < top_p <= 1:
        raise PlaitError(f"top_k={top_k} must be >= 1 and top_p={top_p} in (0, 1] (or null to disable)")
    device = model_device(model)
    ids = torch.tensor([prompt], dtype=torch.long, device=device)  # (1, T)
    step = LMStepper(model, context, use_cache=use_cache, beams=beam_size > 1)
    if beam_size > 1 and max_new_tokens > 0:
        start = ids.expand(beam_size, -1)
        best = beam_decode(
            step, start, eos_id=eos_id, beam_size=beam_size, max_new_tokens=max_new_tokens, alpha=length_penalty
        )
        return prompt + best[0]
    generator = torch.Generator(device=device).manual_seed(seed)
    return sample_tokens(ids, step, max_new_tokens, temperature, top_k, top_p, generator)[0].tolist()
