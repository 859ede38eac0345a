"""Beam search, batched over sentences, for any decoder stepped one token at a time; beam_size 1 is greedy.

Each step scores every (beam, next token) of a sentence, keeps the best `beam_size` continuations that
do not end, and moves those that end (EOS among the top `beam_size`) to the sentence's finished list.
A sentence is done when it has `beam_size` finished hypotheses (HF's `early_stopping=True`). Finished
hypotheses are ranked by log-probability / ((5 + length) / 6) ** length_penalty (GNMT, Wu et al. 2016).

`beam_search` decodes a seq2seq model: one with `decode_cached(tgt_new, memory, src_mask, cache)` and
`reorder_cache(cache, rows)` (the optional incremental-decoding part of the seq2seq contract) is fed one new
token per step, its cache reordered to the surviving beams; other models re-read the whole prefix each step.
`use_cache=False` forces the re-reading path (the two give the same hypotheses). `beam_decode` is the loop
itself, which causal language models share (plugins/tasks/generation.py).
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


class Stepper(Protocol):
    """One decoder as the beam loop drives it: logits after `ids`, and the cache following the kept beams."""

    def __call__(self, ids: Tensor, new: Tensor) -> Tensor:
        """Logits (B, V) of the position after `ids` (B, T); `new` holds the ids added since the last call."""
        ...

    def reorder(self, rows: Tensor) -> None:
        """Row i of the next step continues row `rows[i]` of this one."""
        ...


class Seq2SeqStepper:
    """A seq2seq model's decoder over fixed encoder states, through its cache when it has one."""

    def __init__(self, model: nn.Module, memory: Tensor, src_mask: Tensor, autocast: Callable[[], Any], cached: bool):
        self.parts, self.memory, self.src_mask, self.autocast = cast(Seq2SeqParts, model), memory, src_mask, autocast
        self.cached = cached and callable(getattr(model, "decode_cached", None))
        self.cache: Any = None

    def __call__(self, ids: Tensor, new: Tensor) -> Tensor:
        with self.autocast():
            if self.cached:
                logits, self.cache = self.parts.decode_cached(new, self.memory, self.src_mask, self.cache)
            else:
                logits = self.parts.decode(ids, self.memory, self.src_mask)
        return logits[:, -1]

    def reorder(self, rows: Tensor) -> None:
        if self.cached:
            self.cache = self.parts.reorder_cache(self.cache, rows)


def check_beam(beam_size: int, max_new_tokens: int) -> None:
    """Refuse an empty beam or length before any work."""
    if beam_size < 1 or max_new_tokens < 1:
        raise PlaitError(f"beam_size={beam_size} and max_length={max_new_tokens} must both be >= 1")


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
    check_beam(beam_size, max_new_tokens)
    k = beam_size
    src_mask = src_mask.repeat_interleave(k, dim=0)  # (n * k, S): beam j of sentence b is row b * k + j
    with autocast():
        memory = cast(Seq2SeqParts, model).encode(src_ids.repeat_interleave(k, dim=0), src_mask)
    start = torch.full((src_ids.shape[0] * k, 1), bos_id, dtype=torch.long, device=src_ids.device)
    step = Seq2SeqStepper(model, memory, src_mask, autocast, use_cache)
    return beam_decode(step, start, eos_id=eos_id, beam_size=k, max_new_tokens=max_new_tokens, alpha=length_penalty)


def beam_decode(
    step: Stepper, start: Tensor, *, eos_id: int | None, beam_size: int, max_new_tokens: int, alpha: float
) -> list[list[int]]:
    """The beam loop: start (n * k, P) holds each sentence's prefix k times; the best continuation per sentence
    (without the prefix and EOS). With `eos_id` None hypotheses only end at `max_new_tokens`."""
    check_beam(beam_size, max_new_tokens)
    k, prefix, device = beam_size, start.shape[1], start.device
    n = start.shape[0] // k
    tokens, new = start, start
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live beam at the start, so the first step does not pick duplicates
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    done = [False] * n
    for length in range(1, max_new_tokens + 1):
        logp = step(tokens, new).float().log_softmax(-1)  # (n * k, V)
        vocab = logp.shape[-1]
        cand = (scores.reshape(-1, 1) + logp).reshape(n, k * vocab)
        top_scores, top_idx = cand.topk(min(2 * k, k * vocab), dim=-1)  # (n, 2k)
        rows = torch.arange(n * k, device=device)  # rows to continue (default: unchanged)
        next_tok = torch.full((n * k,), 0 if eos_id is None else eos_id, dtype=torch.long, device=device)
        new_scores = torch.full((n, k), float("-inf"), device=device)
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
                        hyp = tokens[row, prefix:].tolist()
                        finished[b].append((length_normalized(score, length, alpha), hyp))
                    continue
                rows[b * k + kept], next_tok[b * k + kept], new_scores[b, kept] = row, tok, score
                kept += 1
            done[b] = len(finished[b]) >= k
        if all(done):
            break
        tokens, new, scores = torch.cat([tokens[rows], next_tok[:, None]], dim=1), next_tok[:, None], new_scores
        step.reorder(rows)
    for b in range(n):  # out of length: the live beams compete with the finished ones
        if not done[b]:
            for j, score in enumerate(scores[b].tolist()):
                if score > float("-inf"):
                    hyp = tokens[b * k + j, prefix:].tolist()
                    finished[b].append((length_normalized(score, len(hyp), alpha), hyp))
    return [max(f, key=lambda h: h[0])[1] if f else [] for f in finished]
