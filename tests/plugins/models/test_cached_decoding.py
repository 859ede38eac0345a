"""Decoding through a model's key/value cache gives the same tokens as re-reading the prefix: greedy, beam and
sampled, for the Hugging Face adapters and Plait's own generating models; the cached path skips the re-read.

Models run in float64, so the two paths' rounding differences (~1e-16) cannot flip a near-tie between tokens:
what is tested is that the cache continues the right positions and follows the kept beams. tools/bench/decode.py
compares fp32 outputs and measures the speed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from framework.plugins import load_plugins
from framework.task import LANGUAGE_MODELING, SEQ2SEQ
from framework.testing.contracts import BOS, EOS, build_model, contract_batch
from plugins.tasks.beam_search import beam_search
from plugins.tasks.generation import generate_ids

load_plugins()
LMS = ["hf_causal_lm", "transformer_decoder", "lstm"]
SEQ2SEQS = ["hf_seq2seq", "transformer_seq2seq"]
CONTEXT = 32  # the tiny specs' max_length: prompt + new tokens stay inside, so the cache never restarts


def tiny(key: str, kind: str) -> nn.Module:
    return build_model(key, kind, d_model=32, dropout=0.0).double().eval()


def forbid(model: nn.Module, method: str) -> None:
    """Make `model.<method>` fail: the cached path must not re-read the prefix."""

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{method} called while decoding with the cache")

    setattr(model, method, fail)


@pytest.mark.parametrize("key", SEQ2SEQS)
@pytest.mark.parametrize("beam_size", [1, 4])
def test_seq2seq_beam_search_same_with_and_without_cache(key: str, beam_size: int) -> None:
    model, b = tiny(key, SEQ2SEQ), contract_batch(SEQ2SEQ)
    options = {"bos_id": BOS, "eos_id": EOS, "beam_size": beam_size, "max_new_tokens": 12}
    plain = beam_search(model, b["src_ids"], b["src_mask"], use_cache=False, **options)
    forbid(model, "decode")
    assert beam_search(model, b["src_ids"], b["src_mask"], **options) == plain
    assert len(plain) == 3 and any(plain)


@pytest.mark.parametrize("key", LMS)
@pytest.mark.parametrize(
    "mode", [{"temperature": 0.0}, {"temperature": 1.0, "top_k": 10, "seed": 3}, {"beam_size": 4}, {"beam_size": 1}]
)
def test_lm_generation_same_with_and_without_cache(key: str, mode: dict[str, float]) -> None:
    model = tiny(key, LANGUAGE_MODELING)
    prompt = contract_batch(LANGUAGE_MODELING)["input_ids"][0, :5].tolist()
    options = {"max_new_tokens": 20, "context": CONTEXT, **mode}
    plain = generate_ids(model, prompt, use_cache=False, **options)
    forbid(model, "forward")
    assert generate_ids(model, prompt, **options) == plain
    assert len(plain) == 25 and plain[:5] == prompt


def test_lm_beam_search_ends_a_beam_at_eos_and_keeps_the_best() -> None:
    model = tiny("hf_causal_lm", LANGUAGE_MODELING)
    prompt = [5, 6, 7]
    greedy = generate_ids(model, prompt, max_new_tokens=6, context=CONTEXT, temperature=0.0)
    stop = greedy[4]  # the second greedy token as EOS: some beam ends early
    beams = generate_ids(model, prompt, max_new_tokens=6, context=CONTEXT, beam_size=3, eos_id=stop)
    assert beams[:3] == prompt and stop not in beams[3:] and len(beams) <= 9


@torch.no_grad()
def test_beam_log_probability_is_at_least_greedy() -> None:
    """Beam search without EOS finds a continuation at least as likely as greedy decoding (its first beam is it)."""
    model = tiny("transformer_decoder", LANGUAGE_MODELING)
    prompt = [4, 9, 11]

    def logprob(ids: list[int]) -> float:
        logp = model(torch.tensor([ids]), None)[0, :-1].log_softmax(-1)
        return float(logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])][len(prompt) - 1 :].sum())

    greedy = generate_ids(model, prompt, max_new_tokens=8, context=CONTEXT, temperature=0.0)
    beams = generate_ids(model, prompt, max_new_tokens=8, context=CONTEXT, beam_size=4)
    assert logprob(beams) >= logprob(greedy) - 1e-9
