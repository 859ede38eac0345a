"""GPT-like decoder: learning, KV-cached generation equals uncached, padding masks, sampling controls."""

from __future__ import annotations

import pytest
import torch
from tiny_models import BOS, build, counting_lm, train_losses

from framework.task import LANGUAGE_MODELING

POSITIONAL = ["learned", "sinusoidal", "rope"]


@pytest.mark.parametrize("positional", POSITIONAL)
def test_learns_counting(positional: str) -> None:
    model = build("transformer_decoder", LANGUAGE_MODELING, positional=positional, dropout=0.0)
    first, last = train_losses(model, LANGUAGE_MODELING, counting_lm(), steps=40)
    assert last < 0.5 * first, (first, last)


@pytest.mark.parametrize("positional", POSITIONAL)
def test_greedy_tokens_same_with_and_without_kv_cache(positional: str) -> None:
    model = build("transformer_decoder", LANGUAGE_MODELING, positional=positional).eval()
    prompt = torch.tensor([[BOS, 5, 6, 7], [BOS, 9, 3, 3]])
    cached = model.generate(prompt, 12, temperature=0.0)
    uncached = model.generate(prompt, 12, temperature=0.0, use_cache=False)
    assert cached.shape == (2, 16) and torch.equal(cached[:, :4], prompt)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("positional", POSITIONAL)
@pytest.mark.parametrize("side", ["right", "left"])
@torch.no_grad()
def test_attention_mask_hides_padding(positional: str, side: str) -> None:
    model = build("transformer_decoder", LANGUAGE_MODELING, positional=positional).eval()
    seq = torch.tensor([[BOS, 7, 3, 12, 9]])
    pad = (0, 3) if side == "right" else (3, 0)
    mask = torch.nn.functional.pad(torch.ones(1, 5, dtype=torch.bool), pad)
    batch = torch.cat([torch.nn.functional.pad(seq, pad), torch.arange(3, 11)[None]])
    alone = model(seq)
    padded = model(batch, torch.cat([mask, torch.ones(1, 8, dtype=torch.bool)]))
    real = padded[:1, :5] if side == "right" else padded[:1, 3:]
    torch.testing.assert_close(real, alone, rtol=0, atol=1e-5)
    assert torch.isfinite(padded).all(), "padding rows must not turn into NaN"


def test_sampling_is_reproducible_and_top_k_one_is_greedy() -> None:
    model = build("transformer_decoder", LANGUAGE_MODELING).eval()
    prompt = torch.tensor([[BOS, 4]])
    draws = [model.generate(prompt, 8, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    greedy = model.generate(prompt, 8, temperature=0.0)
    assert torch.equal(model.generate(prompt, 8, temperature=0.7, top_k=1), greedy)
    assert torch.equal(model.generate(prompt, 8, top_p=1e-6), greedy)


def test_tied_embeddings_share_one_matrix() -> None:
    tied = build("transformer_decoder", LANGUAGE_MODELING, tie_embeddings=True)
    untied = build("transformer_decoder", LANGUAGE_MODELING, tie_embeddings=False)
    assert tied.head.weight is tied.decoder.embed.weight
    assert untied.head.weight is not untied.decoder.embed.weight
    n = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters())
    assert n == tied.head.weight.numel()
