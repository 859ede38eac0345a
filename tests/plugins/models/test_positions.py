"""Positional encodings: rope is relative and norm-preserving, sinusoidal values, state and errors."""

from __future__ import annotations

import math

import pytest
import torch

from framework.errors import PlaitError
from plugins.models.positions import PositionalEncoding, apply_rope, sinusoidal_table


def _rotated(x: torch.Tensor, position: int, pe: PositionalEncoding) -> torch.Tensor:
    return apply_rope(x[None, None, None], pe.rope(torch.tensor([position])))[0, 0, 0]


def test_rope_scores_depend_only_on_relative_position() -> None:
    pe = PositionalEncoding("rope", 64, d_model=16, n_heads=2)  # head width 8
    q, k = torch.randn(8), torch.randn(8)
    near = _rotated(q, 5, pe) @ _rotated(k, 3, pe)
    far = _rotated(q, 40, pe) @ _rotated(k, 38, pe)
    torch.testing.assert_close(near, far, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(near, _rotated(q, 5, pe) @ _rotated(k, 1, pe))
    torch.testing.assert_close(_rotated(q, 17, pe).norm(), q.norm())  # a rotation keeps lengths


def test_rope_tables_broadcast_for_batched_positions() -> None:
    pe = PositionalEncoding("rope", 16, d_model=8, n_heads=2)
    cos, _ = pe.rope(torch.tensor([[0, 1, 2], [0, 0, 1]]))
    assert cos.shape == (2, 1, 3, 2)  # (B, 1, T, Dh/2) broadcasts over heads
    assert pe.rope(torch.arange(3))[0].shape == (1, 1, 3, 2)


def test_sinusoidal_values_and_odd_width() -> None:
    table = sinusoidal_table(10, 7)
    assert table.shape == (10, 7)
    torch.testing.assert_close(table[0, 0::2], torch.zeros(4))
    torch.testing.assert_close(table[0, 1::2], torch.ones(3))
    torch.testing.assert_close(table[3, 0], torch.tensor(math.sin(3.0)))


def test_only_learned_positions_have_weights() -> None:
    assert list(PositionalEncoding("learned", 8, 4, 2).state_dict()) == ["learned.weight"]
    for kind in ("sinusoidal", "rope"):
        pe = PositionalEncoding(kind, 8, 4, 2)
        assert not pe.state_dict() and not list(pe.parameters())  # tables are rebuilt, not saved
        x = torch.randn(1, 3, 4)
        expected = x if kind == "rope" else x + sinusoidal_table(8, 4)[:3]
        torch.testing.assert_close(pe.add(x, torch.arange(3)), expected)


def test_errors_name_the_fix() -> None:
    with pytest.raises(PlaitError, match="learned, sinusoidal, rope"):
        PositionalEncoding("alibi", 8, 4, 2)
    with pytest.raises(PlaitError, match="even head width"):
        PositionalEncoding("rope", 8, 12, 4)
