"""Next-token sampling: greedy, top-k, top-p, temperature checks."""

from __future__ import annotations

import pytest
import torch

from framework import sample_next
from framework.errors import PlaitError

LOGITS = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))


def _draws(n: int = 400, **kwargs: object) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([sample_next(LOGITS, generator=g, **kwargs) for _ in range(n)], dim=1)  # (2, n)


def test_temperature_zero_is_argmax() -> None:
    assert sample_next(LOGITS, temperature=0.0).tolist() == [[0], [3]]


def test_top_k_keeps_the_k_most_likely() -> None:
    draws = _draws(top_k=2)
    assert set(draws[0].tolist()) == {0, 1} and set(draws[1].tolist()) == {2, 3}


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    draws = _draws(top_p=0.7)  # 0.5 + 0.3 reaches 0.7: two tokens per row
    assert set(draws[0].tolist()) == {0, 1} and set(draws[1].tolist()) == {2, 3}
    assert set(_draws(top_p=0.01)[0].tolist()) == {0}


def test_sampling_follows_the_distribution() -> None:
    share = (_draws(2000)[0] == 0).float().mean()
    assert 0.44 < float(share) < 0.56


def test_negative_temperature_is_an_error() -> None:
    with pytest.raises(PlaitError, match="temperature"):
        sample_next(LOGITS, temperature=-1.0)
