"""Token-budget batches (`trainer.max_tokens`): within the budget with padding counted, full, every example once,
a pure function of the seed (so resuming at a batch index is exact), length-sorted without a seed."""

from __future__ import annotations

import numpy as np
import pytest

from framework.data.token_budget import budget_batches, padded_tokens
from framework.errors import ConfigValueError

LENGTHS = np.random.default_rng(0).integers(1, 60, size=500)


@pytest.mark.parametrize("budget", [60, 256, 1000])
def test_batches_hold_every_example_once_within_the_budget_and_are_full(budget: int) -> None:
    batches = budget_batches(LENGTHS, budget, seed=3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(LENGTHS)))
    for batch in batches:
        assert len(batch) * LENGTHS[batch].max() <= budget
    # greedy: in length order, no batch could have taken the next example as well
    by_first = sorted(batches, key=lambda b: (LENGTHS[b].min(), LENGTHS[b].max(), -len(b)))
    for batch, following in zip(by_first, by_first[1:], strict=False):
        assert (len(batch) + 1) * max(LENGTHS[batch].max(), LENGTHS[following].min()) > budget
    real, padded = padded_tokens(LENGTHS, batches)
    assert real == LENGTHS.sum() and real <= padded < 1.1 * real  # length-sorted: little padding


def test_the_order_is_a_pure_function_of_the_seed() -> None:
    first, again, other = (budget_batches(LENGTHS, 256, seed=s) for s in (7, 7, 8))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert [b.tolist() for b in first] != [b.tolist() for b in other]
    # shuffled: the batches do not come in length order
    maxima = [int(LENGTHS[b].max()) for b in first]
    assert maxima != sorted(maxima)


def test_without_a_seed_the_batches_follow_the_length_order() -> None:
    batches = budget_batches(LENGTHS, 256, seed=None)
    flat = np.concatenate(batches)
    assert np.array_equal(flat, np.argsort(LENGTHS, kind="stable"))


def test_an_example_longer_than_the_budget_names_the_key_and_the_length() -> None:
    with pytest.raises(ConfigValueError, match=r"trainer\.max_tokens=50 is smaller than the longest example \(59"):
        budget_batches(LENGTHS, 50, seed=0)
