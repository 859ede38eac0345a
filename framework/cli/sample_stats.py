"""Statistics of a metric repeated over seeds: n, mean, sample standard deviation (n - 1), min, max and the 95%
confidence interval of the mean (Student's t), with no dependency beyond the standard library."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# Student's t, two-sided 95% (the 0.975 quantile), for 1 to 30 degrees of freedom
T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
Z_975 = 1.959963984540054  # the normal distribution's 0.975 quantile


def t_975(df: int) -> float:
    """Student's t 0.975 quantile: from the table up to 30 degrees of freedom, beyond by the Cornish-Fisher
    expansion around the normal quantile (within 1e-4 of the exact value there)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    if df <= len(T_975):
        return T_975[df - 1]
    z = Z_975
    terms = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96, (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384)
    return z + math.fsum(term / float(df) ** power for power, term in enumerate(terms, 1))


@dataclass(frozen=True)
class Spread:
    """One metric over repeated runs; std and the interval are None for a single value."""

    n: int
    mean: float
    std: float | None
    min: float
    max: float
    ci95: tuple[float, float] | None

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """The spread of `values` (at least one)."""
        mean = statistics.fmean(values)
        if len(values) < 2:
            return cls(len(values), mean, None, values[0], values[0], None)
        std = statistics.stdev(values)
        half = t_975(len(values) - 1) * std / math.sqrt(len(values))
        return cls(len(values), mean, std, min(values), max(values), (mean - half, mean + half))
