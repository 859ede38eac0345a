"""Attentional LSTM/GRU encoder-decoder: learning with Luong and Bahdanau attention, padding, errors."""

from __future__ import annotations

import pytest
import torch
from tiny_models import BOS, TARGET_VOCAB, build, copy_seq2seq, keep_mask, train_losses

from framework.errors import PlaitError
from framework.task import SEQ2SEQ
from plugins.models.rnn_layers import BahdanauAttention, LuongAttention


@pytest.mark.parametrize(
    ("cell", "options"),
    [
        pytest.param("lstm", {"attention": "luong", "luong_score": "general"}, id="lstm-luong-general"),
        pytest.param("gru", {"attention": "luong", "luong_score": "dot", "bidirectional": False}, id="gru-luong-dot"),
        pytest.param("gru", {"attention": "bahdanau"}, id="gru-bahdanau"),
    ],
)
def test_learns_to_copy(cell: str, options: dict) -> None:
    model = build(cell, SEQ2SEQ, d_model=24, d_hidden=24, n_layers=1, dropout=0.0, **options)
    first, last = train_losses(model, SEQ2SEQ, copy_seq2seq(length=5), steps=60)
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize(("cell", "attention"), [("lstm", "luong"), ("gru", "bahdanau")])
@torch.no_grad()
def test_source_padding_changes_nothing(cell: str, attention: str) -> None:
    model = build(cell, SEQ2SEQ, attention=attention, bidirectional=True).eval()
    src = torch.tensor([[5, 9, 4, 11]])
    tgt_in = torch.tensor([[BOS, 6, 7]])
    neighbour = torch.arange(3, 10)[None]
    batch_src = torch.cat([torch.nn.functional.pad(src, (0, 3)), neighbour])
    batch_mask = keep_mask([4, 7], 7)
    alone = model(src, keep_mask([4], 4), tgt_in)
    padded = model(batch_src, batch_mask, torch.cat([tgt_in, tgt_in]))
    torch.testing.assert_close(padded[:1], alone, rtol=0, atol=1e-5)
    memory = model.encode(batch_src, batch_mask)
    assert torch.all(memory[0, 4:] == 0), "padding positions of the memory stay zero"


@pytest.mark.parametrize("attention", [LuongAttention(8, 12, "general"), BahdanauAttention(8, 12, 10)])
def test_attention_weights_skip_padding(attention: torch.nn.Module) -> None:
    memory = torch.randn(2, 5, 12)
    keep = keep_mask([3, 5], 5)
    context, weights = attention(torch.randn(2, 4, 8), attention.keys(memory), memory, keep)
    assert context.shape == (2, 4, 12) and weights.shape == (2, 4, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4))
    assert torch.all(weights[0, :, 3:] == 0)


def test_separate_target_vocabulary() -> None:
    model = build("lstm", SEQ2SEQ)
    assert model.tgt_embed.num_embeddings == TARGET_VOCAB
    assert model.head.out_features == TARGET_VOCAB


def test_luong_dot_needs_equal_widths() -> None:
    with pytest.raises(PlaitError, match="luong_score=general"):
        build("lstm", SEQ2SEQ, attention="luong", luong_score="dot", bidirectional=True)


def test_unknown_attention_names_the_choices() -> None:
    with pytest.raises(PlaitError, match="luong, bahdanau"):
        build("gru", SEQ2SEQ, attention="multihead")
