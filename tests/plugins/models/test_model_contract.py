"""Contract every registered model keeps, per supported task kind (see framework/task.py):
shapes, forward + backward in fp32 and under CPU bf16 autocast, state_dict round trip, kind errors,
documented options. Which models and kinds run is declared in tiny_models.MODEL_CASES.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from tiny_models import KINDS, MODEL_CASES, build, contract_batch, expected_shape, loss_of, require_case, run

from framework.describe import field_comments
from framework.registry import MODELS, NAME_FIELD, PlaitError
from framework.task import LANGUAGE_MODELING

BUILT_IN = ["lstm", "gru", "transformer_encoder", "transformer_decoder", "transformer_seq2seq"]


def _check_grads(model: torch.nn.Module) -> None:
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    bad = [n for n, p in trainable.items() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


def test_forward_backward_fp32(model_case: tuple[str, str]) -> None:
    key, kind = model_case
    model = build(key, kind)
    batch = contract_batch(kind)
    logits = run(model, kind, batch)
    assert logits.shape == expected_shape(kind, batch)
    assert logits.dtype == torch.float32
    loss_of(logits, kind, batch).backward()
    _check_grads(model)


def test_forward_backward_bf16_autocast(model_case: tuple[str, str]) -> None:
    key, kind = model_case
    model = build(key, kind)
    batch = contract_batch(kind)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = run(model, kind, batch)
        loss = loss_of(logits, kind, batch)
    assert logits.shape == expected_shape(kind, batch)
    assert torch.isfinite(logits.float()).all()
    loss.backward()
    _check_grads(model)
    assert all(p.dtype == torch.float32 for p in model.parameters()), "autocast must leave weights in fp32"


@torch.no_grad()
def test_state_dict_round_trip(model_case: tuple[str, str], tmp_path: Path) -> None:
    key, kind = model_case
    source, target = build(key, kind, seed=0).eval(), build(key, kind, seed=1).eval()
    batch = contract_batch(kind)
    assert not torch.equal(run(source, kind, batch), run(target, kind, batch)), "seeds should differ before loading"
    torch.save(source.state_dict(), tmp_path / "model.pt")
    target.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    assert torch.equal(run(source, kind, batch), run(target, kind, batch))


@torch.no_grad()
def test_seq2seq_encode_then_decode_equals_forward(seq2seq_case: str) -> None:
    model = build(seq2seq_case, "seq2seq").eval()
    b = contract_batch("seq2seq")
    memory = model.encode(b["src_ids"], b["src_mask"])
    via_parts = model.decode(b["tgt_in"], memory, b["src_mask"])
    torch.testing.assert_close(via_parts, model(b["src_ids"], b["src_mask"], b["tgt_in"]), rtol=0, atol=1e-6)


@torch.no_grad()
def test_language_model_forward_cached_matches_forward(language_modeling_case: str) -> None:
    model = build(language_modeling_case, LANGUAGE_MODELING).eval()
    if not hasattr(model, "forward_cached"):
        pytest.skip(f"{language_modeling_case} does not offer the optional forward_cached")
    ids = contract_batch(LANGUAGE_MODELING)["input_ids"][:, :5].clamp_min(3)  # unpadded prompts
    full = model(ids, None)
    head, cache = model.forward_cached(ids[:, :3], None)
    tail, _ = model.forward_cached(ids[:, 3:], cache)
    torch.testing.assert_close(torch.cat([head, tail], dim=1), full, rtol=1e-5, atol=1e-5)


def test_unsupported_kinds_raise_plait_error(model_key: str) -> None:
    case = require_case(model_key)
    for kind in [k for k in KINDS if k not in case.kinds] + ["no_such_kind"]:
        with pytest.raises(PlaitError):
            build(model_key, kind)


def test_options_are_documented(model_key: str) -> None:
    """`plait describe` shows each field's trailing comment; every option needs one."""
    require_case(model_key)
    schema = MODELS.config_class(model_key)
    comments = field_comments(schema)
    undocumented = [f.name for f in dataclasses.fields(schema) if f.name != NAME_FIELD and f.name not in comments]
    assert not undocumented, f"{schema.__name__} fields without a trailing # comment: {undocumented}"
    assert (MODELS.factory(model_key).__doc__ or "").strip(), "the factory's docstring is its `plait list` line"


def test_a_model_without_a_case_fails_and_says_what_to_add() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"no entry in MODEL_CASES.*add ModelCase"):
        require_case("model_nobody_declared")


@pytest.mark.parametrize("key", BUILT_IN)
def test_kind_errors_name_the_supported_kinds(key: str) -> None:
    with pytest.raises(PlaitError) as err:
        build(key, "no_such_kind")
    assert all(kind in str(err.value) for kind in MODEL_CASES[key].kinds), str(err.value)
