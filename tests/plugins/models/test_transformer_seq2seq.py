"""Encoder-decoder Transformer: learning to copy, source padding, shared vs separate vocabularies."""

from __future__ import annotations

import pytest
import torch
from tiny_models import BOS, TARGET_VOCAB, VOCAB, build, copy_seq2seq, keep_mask, spec_for, train_losses

from framework.kinds import MODELS
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


@pytest.mark.parametrize("positional", ["learned", "rope"])
@torch.no_grad()
def test_decode_cached_step_by_step_equals_decode(positional: str) -> None:
    model = build("transformer_seq2seq", SEQ2SEQ, positional=positional).eval()
    src, mask = torch.randint(3, VOCAB, (2, 6)), keep_mask([6, 3], 6)
    tgt = torch.cat([torch.full((2, 1), BOS), torch.randint(3, TARGET_VOCAB, (2, 5))], dim=1)
    memory = model.encode(src, mask)
    full = model.decode(tgt, memory, mask)
    cache, steps = None, []
    for t in range(tgt.shape[1]):
        logits, cache = model.decode_cached(tgt[:, t : t + 1], memory, mask, cache)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=1e-5)
    rows = torch.tensor([1, 1])
    reordered = model.reorder_cache(cache, rows)
    assert all(torch.equal(layer[0][0], layer[0][1]) for layer in reordered)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_greedy_and_beam_search_same_with_and_without_cache(beam_size: int) -> None:
    from plugins.tasks.beam_search import beam_search

    model = build("transformer_seq2seq", SEQ2SEQ, positional="rope", dropout=0.0, d_model=32, d_ff=64)
    train_losses(model, SEQ2SEQ, copy_seq2seq(length=5), steps=40, lr=5e-3)  # non-trivial, peaked distributions
    model.eval()
    src = torch.randint(3, TARGET_VOCAB, (5, 6), generator=torch.Generator().manual_seed(1))
    mask = keep_mask([6, 5, 4, 6, 3], 6)
    options = {"bos_id": BOS, "eos_id": 2, "beam_size": beam_size, "max_new_tokens": 8}
    cached = beam_search(model, src, mask, use_cache=True, **options)
    plain = beam_search(model, src, mask, use_cache=False, **options)
    assert cached == plain and any(cached)
