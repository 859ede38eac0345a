"""Batching shared by the text tasks: length-bucketed index batches and padding.

Bucketing (as in fairseq / torchtext's BucketIterator): shuffle, cut into pools of `pool_batches`
batches, sort each pool by length, cut it into batches and shuffle the batches. Padding stays small
and every batch order is a pure function of the seed, so `start=` resumes exactly. `pool_batches=1`
gives plain shuffled batches: use it when length gives the label away (batches of one length would
then hold one class, which slows learning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from framework import Ragged


def bucketed_batches(lengths: np.ndarray, batch_size: int, *, seed: int | None, pool_batches: int) -> list[np.ndarray]:
    """Index arrays of similar-length examples; `seed=None` gives a fixed length-sorted order (for evaluation)."""
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if pool_batches <= 1:  # plain shuffled batches
        order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).numpy()
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def pad(seqs: Sequence[np.ndarray | list[int]], pad_id: int, **options: int | None) -> tuple[Tensor, Tensor]:
    """(ids (B, T) long, mask (B, T) bool) from id sequences, with `pad_rows`'s options (max_length, prefix,
    suffix, empty_id)."""
    rows = Ragged.from_arrays(seqs)
    return pad_rows(rows, np.arange(len(rows)), pad_id, **options)


def pad_rows(
    rows: Ragged,
    idx: np.ndarray,
    pad_id: int,
    *,
    max_length: int | None = None,
    prefix: int | None = None,
    suffix: int | None = None,
    empty_id: int | None = None,
) -> tuple[Tensor, Tensor]:
    """(ids (B, T) long, mask (B, T) bool) of the sequences `rows[i]` for i in `idx`: each truncated to `max_length`
    tokens including the optional `prefix` / `suffix` ids; an empty sequence becomes `[empty_id]` when given.
    One fancy index over the flat ids (memory-mapped or not), not a slice and a copy per row."""
    extra = (prefix is not None) + (suffix is not None)
    starts = rows.offsets[idx]
    body = rows.offsets[idx + 1] - starts
    if max_length is not None:
        body = np.minimum(body, max(max_length - extra, 0))
    empty = body == 0
    lengths = np.where(empty, 1, body) if empty_id is not None else body
    width = max(int(lengths.max(initial=0)) + extra, 1)
    ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    start = int(prefix is not None)
    if (longest := int(body.max(initial=0))) > 0:
        real = np.arange(longest)[None, :] < body[:, None]
        tokens = rows.flat[np.where(real, starts[:, None] + np.arange(longest), 0)]
        ids[:, start : start + longest] = np.where(real, tokens, pad_id)
    if empty_id is not None:
        ids[empty, start] = empty_id
    if prefix is not None:
        ids[:, 0] = prefix
    if suffix is not None:
        ids[np.arange(len(idx)), start + lengths] = suffix
    mask = np.arange(width)[None, :] < (lengths + extra)[:, None]
    return torch.from_numpy(ids), torch.from_numpy(mask)


@dataclass(frozen=True)
class PaddedRows:
    """Id sequences padded once to a fixed width, so a batch is one fancy-index gather instead of a row loop.

    The last row is all padding (length 0): gathers point missing rows at it.
    """

    ids: np.ndarray  # (n + 1, width) int64
    lengths: np.ndarray  # (n + 1,) int64

    @classmethod
    def build(
        cls, seqs: Sequence[np.ndarray | list[int]], pad_id: int, max_length: int, empty_id: int | None = None
    ) -> PaddedRows:
        """Each sequence truncated to `max_length`; an empty one becomes `[empty_id]` when given."""
        ids, mask = pad([*seqs, []], pad_id, max_length=max_length, empty_id=empty_id)
        ids[-1], mask[-1] = pad_id, False  # the padding row stays empty whatever `empty_id` says
        return cls(ids.numpy(), mask.sum(1).numpy())

    def __len__(self) -> int:
        return len(self.lengths) - 1

    def gather(self, rows: np.ndarray) -> tuple[Tensor, int]:
        """Rows (any shape S; -1 = a padding row) -> ((*S, W) long ids, W the longest gathered row (at least 1);
        the real (non-pad) tokens among them, summed from the lengths, no pass over the ids)."""
        lengths = self.lengths[rows]  # row -1 is the padding row, length 0
        width = max(int(lengths.max(initial=0)), 1)
        return torch.from_numpy(self.ids[rows, :width]), int(lengths.sum())
