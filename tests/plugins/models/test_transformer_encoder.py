"""Transformer encoder classifier: learning, padding invariance for every pooling and position kind."""

from __future__ import annotations

import pytest
import torch
from tiny_models import build, keep_mask, signal_classification, train_losses

from framework.errors import PlaitError
from framework.task import CLASSIFICATION

POSITIONAL = ["learned", "sinusoidal", "rope"]


@pytest.mark.parametrize("positional", POSITIONAL)
def test_learns_signal_token(positional: str) -> None:
    model = build("transformer_encoder", CLASSIFICATION, positional=positional, dropout=0.0, pooling="mean")
    first, last = train_losses(model, CLASSIFICATION, signal_classification(), steps=40, lr=5e-3)
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize("positional", POSITIONAL)
@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("side", ["right", "left"])
@torch.no_grad()
def test_padding_changes_nothing(positional: str, pooling: str, side: str) -> None:
    """A sequence alone and inside a padded batch get the same logits (positions count real tokens only)."""
    model = build("transformer_encoder", CLASSIFICATION, positional=positional, pooling=pooling).eval()
    seq = torch.tensor([[7, 3, 12, 9, 4]])
    pad = (0, 4) if side == "right" else (4, 0)
    mask = torch.nn.functional.pad(torch.ones(1, 5, dtype=torch.bool), pad)
    batch = torch.cat([torch.nn.functional.pad(seq, pad), torch.arange(3, 12)[None]])
    alone = model(seq, keep_mask([5], 5))
    padded = model(batch, torch.cat([mask, torch.ones(1, 9, dtype=torch.bool)]))
    torch.testing.assert_close(padded[:1], alone, rtol=0, atol=1e-5)


def test_too_long_input_names_the_limit() -> None:
    model = build("transformer_encoder", CLASSIFICATION, max_length=8)
    with pytest.raises(PlaitError, match="max_length=8"):
        model(torch.ones(1, 9, dtype=torch.long))


def test_unknown_options_name_the_choices() -> None:
    with pytest.raises(PlaitError, match="learned, sinusoidal, rope"):
        build("transformer_encoder", CLASSIFICATION, positional="alibi")
    with pytest.raises(PlaitError, match="cls or mean"):
        build("transformer_encoder", CLASSIFICATION, pooling="max")
