"""Beam search over a seq2seq model's `encode` / `decode`, batched over sentences; beam_size 1 is greedy.

Each step scores every (beam, next token) of a sentence, keeps the best `beam_size` continuations that
do not end, and moves those that end (EOS among the top `beam_size`) to the sentence's finished list.
A sentence is done when it has `beam_size` finished hypotheses (HF's `early_stopping=True`). Finished
hypotheses are ranked by log-probability / ((5 + length) / 6) ** length_penalty (GNMT, Wu et al. 2016).
A model with `decode_cached(tgt_new, memory, src_mask, cache)` and `reorder_cache(cache, rows)` (the
optional incremental-decoding part of the seq2seq contract) is fed one new token per step, its cache
reordered to the surviving beams; other models re-read the whole prefix each step. `use_cache=False`
forces the re-reading path (the two give the same hypotheses).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn

from framework import PlaitError


class Seq2SeqParts(Protocol):
    """The halves of the seq2seq contract (framework/task.py); beam search calls the cached pair only if present."""

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor: ...
    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor: ...
    def decode_cached(self, tgt_new: Tensor, memory: Tensor, src_mask: Tensor, cache: Any) -> tuple[Tensor, Any]: ...
    def reorder_cache(self, cache: Any, rows: Tensor) -> Any: ...


def length_normalized(score: float, length: int, alpha: float) -> float:
    """GNMT length-normalised score of a hypothesis with `length` target tokens."""
    penalty: float = ((5 + length) / 6) ** alpha
    return score / penalty


@torch.no_grad()
def beam_search(
    model: nn.Module,
    src_ids: Tensor,
    src_mask: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    beam_size: int = 4,
    max_new_tokens: int = 100,
    length_penalty: float = 0.6,
    autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    use_cache: bool = True,
) -> list[list[int]]:
    """Best target ids (without BOS and EOS) for each source row of src_ids (B, S) / src_mask (B, S)."""
    if beam_size < 1 or max_new_tokens < 1:
        raise PlaitError(f"beam_size={beam_size} and max_length={max_new_tokens} must both be >= 1")
    n, k = src_ids.shape[0], beam_size
    parts = cast(Seq2SeqParts, model)
    src_mask = src_mask.repeat_interleave(k, dim=0)  # (n * k, S): beam j of sentence b is row b * k + j
    with autocast():
        memory = parts.encode(src_ids.repeat_interleave(k, dim=0), src_mask)
    tokens = torch.full((n * k, 1), bos_id, dtype=torch.long, device=src_ids.device)
    scores = torch.full((n, k), float("-inf"), device=src_ids.device)
    scores[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    done = [False] * n
    cached = use_cache and callable(getattr(model, "decode_cached", None))
    cache, new = None, tokens  # with a cache only the newest token goes through the decoder
    for step in range(1, max_new_tokens + 1):
        with autocast():
            if cached:
                logits, cache = parts.decode_cached(new, memory, src_mask, cache)
            else:
                logits = parts.decode(tokens, memory, src_mask)
        logp = logits[:, -1].float().log_softmax(-1)  # (n * k, V)
        vocab = logp.shape[-1]
        cand = (scores.reshape(-1, 1) + logp).reshape(n, k * vocab)
        top_scores, top_idx = cand.topk(min(2 * k, k * vocab), dim=-1)  # (n, 2k)
        rows = torch.arange(n * k, device=tokens.device)  # rows to continue (default: unchanged)
        next_tok = torch.full((n * k,), eos_id, dtype=torch.long, device=tokens.device)
        new_scores = torch.full((n, k), float("-inf"), device=tokens.device)
        for b, (b_scores, b_idx) in enumerate(zip(top_scores.tolist(), top_idx.tolist(), strict=True)):
            if done[b]:
                continue
            kept = 0
            for rank, (score, flat) in enumerate(zip(b_scores, b_idx, strict=True)):
                if score == float("-inf") or kept == k:
                    break
                row, tok = b * k + flat // vocab, flat % vocab
                if tok == eos_id:
                    if rank < k:
                        finished[b].append((length_normalized(score, step, length_penalty), tokens[row, 1:].tolist()))
                    continue
                rows[b * k + kept], next_tok[b * k + kept], new_scores[b, kept] = row, tok, score
                kept += 1
            done[b] = len(finished[b]) >= k
        if all(done):
            break
        tokens = torch.cat([tokens[rows], next_tok[:, None]], dim=1)
        scores = new_scores
        if cached:
            cache, new = parts.reorder_cache(cache, rows), next_tok[:, None]
    for b in range(n):  # out of length: the live beams compete with the finished ones
        if not done[b]:
            for j, score in enumerate(scores[b].tolist()):
                if score > float("-inf"):
                    length = tokens.shape[1] - 1
                    finished[b].append(
                        (length_normalized(score, length, length_penalty), tokens[b * k + j, 1:].tolist())
                    )
    return [max(f, key=lambda h: h[0])[1] if f else [] for f in finished]
