"""Autoregressive sampling shared by the language models (transformer decoder, LSTM/GRU).

A model mixes in `Generation` and provides `forward(input_ids)` and
`forward_cached(input_ids, cache) -> (logits, cache)`; shapes: B batch, T length, V vocabulary.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn

from framework import sample_tokens


class Generation:
    """`generate()` for a causal LM with `forward` and `forward_cached`."""

    def forward_cached(self, input_ids: Tensor, cache: Any) -> tuple[Tensor, Any]:
        """input_ids (B, T) continuing `cache` (None at the start) -> logits (B, T, V) and the new cache."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Prompts (B, T) -> (B, T + max_new_tokens): the prompts followed by sampled continuations.

        Prompts in one batch share a length (no padding). `use_cache=False` re-runs the whole prefix each
        step (slow; a reference for the cache). Call `model.eval()` first to turn dropout off.
        """
        cache: Any = None

        def next_logits(ids: Tensor, new: Tensor) -> Tensor:
            nonlocal cache
            if not use_cache:
                full: Tensor = cast(nn.Module, self)(ids)  # the class that mixes Generation in is an nn.Module
                return full[:, -1]
            logits, cache = self.forward_cached(new, cache)
            return logits[:, -1]

        return sample_tokens(input_ids, next_logits, max_new_tokens, temperature, top_k, top_p, generator)
