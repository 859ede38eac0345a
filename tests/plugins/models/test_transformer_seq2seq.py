"""Encoder-decoder Transformer: learning to copy, source padding, shared vs separate vocabularies."""

from __future__ import annotations

import pytest
import torch
from tiny_models import BOS, TARGET_VOCAB, VOCAB, build, copy_seq2seq, keep_mask, spec_for, train_losses

from framework.registry import MODELS
from framework.task import SEQ2SEQ


@pytest.mark.parametrize("positional", ["learned", "rope"])
def test_learns_to_copy(positional: str) -> None:
    model = build("transformer_seq2seq", SEQ2SEQ, positional=positional, dropout=0.0, d_model=32, d_ff=64)
    first, last = train_losses(model, SEQ2SEQ, copy_seq2seq(length=5), steps=80, lr=5e-3)
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "rope"])
@torch.no_grad()
def test_source_padding_changes_nothing(positional: str) -> None:
    model = build("transformer_seq2seq", SEQ2SEQ, positional=positional).eval()
    src, tgt_in = torch.tensor([[5, 9, 4, 11]]), torch.tensor([[BOS, 6, 7]])
    batch_src = torch.cat([torch.nn.functional.pad(src, (0, 3)), torch.arange(3, 10)[None]])
    alone = model(src, keep_mask([4], 4), tgt_in)
    padded = model(batch_src, keep_mask([4, 7], 7), torch.cat([tgt_in, tgt_in]))
    torch.testing.assert_close(padded[:1], alone, rtol=0, atol=1e-5)


def _build(shared_vocab: bool, **options: object) -> torch.nn.Module:
    cfg = MODELS.config("transformer_seq2seq", d_model=16, n_heads=2, d_ff=32, n_layers=1, **options)
    return MODELS.build(cfg, spec=spec_for(SEQ2SEQ, shared_vocab=shared_vocab))


def test_vocabularies_shared_or_separate() -> None:
    shared = _build(True)
    assert shared.encoder.embed is shared.decoder.embed and shared.head.weight is shared.decoder.embed.weight
    assert shared.head.out_features == VOCAB
    separate = _build(False)
    assert separate.encoder.embed.num_embeddings == VOCAB
    assert separate.decoder.embed.num_embeddings == TARGET_VOCAB == separate.head.out_features
    untied = _build(True, share_embeddings=False, tie_embeddings=False, n_decoder_layers=2)
    assert untied.encoder.embed is not untied.decoder.embed
    assert untied.head.weight is not untied.decoder.embed.weight
    assert len(untied.decoder.blocks) == 2 and len(untied.encoder.blocks) == 1
