"""The fixed examples a task shows with the model's outputs after each evaluation (Task.samples)."""

from __future__ import annotations

import numpy as np


def fixed_choice(count: int, n: int, seed: int) -> list[int]:
    """`n` of the indices `0 .. count - 1`, chosen by `seed`, ascending: the same examples at every evaluation.

    Draws from its own generator, never from the run's random streams.
    """
    if count <= 0 or n <= 0:
        return []
    chosen = np.random.default_rng(seed).choice(count, size=min(n, count), replace=False)
    return sorted(int(i) for i in chosen)
