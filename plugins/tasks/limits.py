"""`task.train_limit` / `task.eval_limit`: train or evaluate on the first examples of a split (debug=limit).

Every built-in task's config has both keys. The data is prepared (read, tokenized, cached) whole as before; the
limit only cuts what the batches are drawn from: the first n examples in the split's order (the training split is
then shuffled within them). Language modelling counts tokens read instead, rounded up to whole blocks. The keys
are `plugins.tasks.configs.DataLimitConfig`'s; these helpers cut a split's examples by them.
"""

from __future__ import annotations

import math

import numpy as np


def first(lengths: np.ndarray, limit: int | None) -> np.ndarray:
    """The lengths of the examples a split's batches are drawn from: the first `limit` (all when None)."""
    return lengths if limit is None else lengths[:limit]


def limited_count(count: int, limit: int | None) -> int:
    """How many examples a split holds under `limit`."""
    return count if limit is None else min(count, limit)


def limited_blocks(blocks: int, tokens: int | None, block_size: int) -> int:
    """Language modelling: the blocks of `block_size` that `tokens` tokens read cover (rounded up; all when None)."""
    return blocks if tokens is None else min(blocks, math.ceil(tokens / block_size))
