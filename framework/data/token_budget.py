"""Token-budget batches (fairseq's `--max-tokens`): each batch holds as many examples as fit in a number of tokens,
padding counted, so a batch of short sentences holds many and one of long sentences few.

The examples are shuffled by the seed, sorted by length (a stable sort, so examples of one length stay in the
shuffled order), cut greedily into batches whose `size x longest length` stays within the budget, and the batches
are shuffled by the same seed. The order is a pure function of (lengths, budget, seed): a run resumed at batch
`start` of an epoch gets exactly the batches it would have had. Without a seed (evaluation) the batches follow
the length order.
"""

from __future__ import annotations

import numpy as np

from framework.errors import ConfigValueError


def budget_batches(
    lengths: np.ndarray, max_tokens: int, *, seed: int | None, key: str = "trainer.max_tokens"
) -> list[np.ndarray]:
    """Index arrays of similar-length examples, each batch's `len(batch) * max(lengths[batch]) <= max_tokens`.

    `lengths`: each example's padded length in tokens (the longer side for pairs). An example longer than the
    budget is an error naming `key` (the setting that chose it) and the length needed.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if max_tokens < 1:
        raise ConfigValueError(key, f"={max_tokens} is not allowed: must be >= 1")
    if len(lengths) and int(lengths.max()) > max_tokens:
        longest = int(lengths.max())
        raise ConfigValueError(
            key,
            f"={max_tokens} is smaller than the longest example ({longest} tokens, example {int(lengths.argmax())}); "
            f"raise {key} to at least {longest} or lower the task's max_length",
        )
    rng = np.random.default_rng(seed) if seed is not None else None
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = _cut(order, lengths[order], max_tokens)
    return [batches[i] for i in rng.permutation(len(batches))] if rng is not None else batches


def _cut(order: np.ndarray, sorted_lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """`order` (sorted by length, ascending) cut greedily: a batch grows while its size times its longest (its
    last, the lengths ascending) example fits in `max_tokens`."""
    batches: list[np.ndarray] = []
    begin = 0
    for i, length in enumerate(sorted_lengths.tolist()):
        if (i + 1 - begin) * max(int(length), 1) > max_tokens:
            batches.append(order[begin:i])
            begin = i
    if begin < len(order):
        batches.append(order[begin:])
    return batches


def padded_tokens(lengths: np.ndarray, batches: list[np.ndarray]) -> tuple[int, int]:
    """(real tokens, tokens with padding) of `batches` over examples of `lengths`: what bucketing saves."""
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(len(b) * int(lengths[b].max()) for b in batches if len(b))
    return real, padded
