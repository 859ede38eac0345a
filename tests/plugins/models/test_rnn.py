"""LSTM/GRU classifier and language model: learning, padding invariance, cached decoding, option errors."""

from __future__ import annotations

import pytest
import torch
from tiny_models import BOS, build, counting_lm, keep_mask, signal_classification, train_losses

from framework.errors import PlaitError
from framework.task import CLASSIFICATION, LANGUAGE_MODELING

CELLS = ["lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_learns_signal_token(cell: str) -> None:
    model = build(cell, CLASSIFICATION, d_model=24, d_hidden=24, n_layers=1, dropout=0.0)
    first, last = train_losses(model, CLASSIFICATION, signal_classification(), steps=40)
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_learns_counting(cell: str) -> None:
    model = build(cell, LANGUAGE_MODELING, d_model=24, d_hidden=24, n_layers=1, dropout=0.0, bidirectional=False)
    first, last = train_losses(model, LANGUAGE_MODELING, counting_lm(), steps=40)
    assert last < 0.5 * first, (first, last)


def _alone_vs_padded(model: torch.nn.Module, pad_to: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs for a 5-token sequence on its own, and for it in a batch right-padded to `pad_to`."""
    seq = torch.tensor([[7, 3, 12, 9, 4]])
    other = torch.arange(3, 3 + pad_to)[None]  # a full-length neighbour
    batch = torch.cat([torch.nn.functional.pad(seq, (0, pad_to - 5)), other])
    with torch.no_grad():
        alone = model(seq, keep_mask([5], 5))
        padded = model(batch, keep_mask([5, pad_to], pad_to))
    return alone, padded


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_classifier_ignores_padding(cell: str, pooling: str) -> None:
    model = build(cell, CLASSIFICATION, pooling=pooling, bidirectional=True, n_layers=2).eval()
    alone, padded = _alone_vs_padded(model)
    torch.testing.assert_close(padded[:1], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_language_model_ignores_padding(cell: str) -> None:
    model = build(cell, LANGUAGE_MODELING, bidirectional=False).eval()
    alone, padded = _alone_vs_padded(model)
    torch.testing.assert_close(padded[:1, :5], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_generate_same_tokens_with_and_without_cache(cell: str) -> None:
    model = build(cell, LANGUAGE_MODELING, bidirectional=False).eval()
    prompt = torch.tensor([[BOS, 5, 6], [BOS, 9, 3]])
    cached = model.generate(prompt, 6, temperature=0.0)
    assert cached.shape == (2, 9) and torch.equal(cached[:, :3], prompt)
    assert torch.equal(cached, model.generate(prompt, 6, temperature=0.0, use_cache=False))


def test_language_model_must_be_unidirectional() -> None:
    with pytest.raises(PlaitError, match="bidirectional=false"):
        build("lstm", LANGUAGE_MODELING, bidirectional=True)


def test_tied_embeddings_share_weights_and_need_equal_widths() -> None:
    model = build("gru", LANGUAGE_MODELING, bidirectional=False, tie_embeddings=True, d_model=16, d_hidden=16)
    assert model.head.weight is model.embed.weight
    with pytest.raises(PlaitError, match="d_hidden"):
        build("gru", LANGUAGE_MODELING, bidirectional=False, tie_embeddings=True, d_model=16, d_hidden=32)


def test_unknown_pooling_names_the_choices() -> None:
    with pytest.raises(PlaitError, match="mean, max, last"):
        build("lstm", CLASSIFICATION, pooling="attention")
