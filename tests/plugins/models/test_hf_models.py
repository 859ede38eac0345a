"""Hugging Face adapters: forward contract, backward, save_pretrained -> from_pretrained with equal logits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.plugins import load_plugins
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, TaskSpec

load_plugins()
TINY = {"n_layers": 1, "n_heads": 2, "d_model": 16, "d_ff": 32, "dropout": 0.0}
SPECS = {
    "hf_causal_lm": TaskSpec(LANGUAGE_MODELING, vocab_size=40, max_length=16, extra={"bos_id": 2, "eos_id": 3}),
    "hf_encoder_classifier": TaskSpec(CLASSIFICATION, vocab_size=40, n_classes=3, max_length=16),
    "hf_seq2seq": TaskSpec(SEQ2SEQ, vocab_size=40, target_vocab_size=30, extra={"bos_id": 2, "eos_id": 3}),
}
AUTO_CLASS = {
    "hf_causal_lm": "AutoModelForCausalLM",
    "hf_encoder_classifier": "AutoModelForSequenceClassification",
    "hf_seq2seq": "AutoModelForSeq2SeqLM",
}


def build(name: str, spec: TaskSpec | None = None, **overrides):
    torch.manual_seed(0)
    return MODELS.build(MODELS.config(name, **{**TINY, **overrides}), spec=spec or SPECS[name])


def inputs(name: str) -> tuple[torch.Tensor, ...]:
    """Arguments of the model's forward for a batch of 2 with one padded row."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(7, 30, (2, 6), generator=g)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    ids[1, 4:] = 0
    if name == "hf_seq2seq":
        return ids, mask, torch.randint(2, 30, (2, 5), generator=g)
    return ids, mask


def out_shape(name: str) -> tuple[int, ...]:
    spec = SPECS[name]
    return {
        "hf_causal_lm": (2, 6, spec.vocab_size),
        "hf_encoder_classifier": (2, spec.n_classes),
        "hf_seq2seq": (2, 5, spec.target_vocab_size),
    }[name]


@pytest.mark.parametrize("name", list(SPECS))
def test_forward_and_backward(name: str) -> None:
    model = build(name)
    logits = model(*inputs(name))
    assert logits.shape == out_shape(name)
    logits.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.hf.get_input_embeddings().weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(SPECS))
def test_save_pretrained_round_trip_equal_logits(name: str, tmp_path: Path) -> None:
    import transformers

    model = build(name).eval()
    model.save_pretrained(tmp_path)
    reloaded = build(name, pretrained=str(tmp_path), n_layers=3, d_model=32).eval()  # sizes ignored when loading
    direct = getattr(transformers, AUTO_CLASS[name]).from_pretrained(str(tmp_path), local_files_only=True).eval()
    args = inputs(name)
    with torch.no_grad():
        expected = model(*args)
        torch.testing.assert_close(reloaded(*args), expected)
        if name == "hf_seq2seq":
            raw = direct(input_ids=args[0], attention_mask=args[1].long(), decoder_input_ids=args[2]).logits
            raw = raw[..., : SPECS[name].target_vocab_size]
        else:
            raw = direct(input_ids=args[0], attention_mask=args[1].long()).logits
    torch.testing.assert_close(raw, expected)


def test_pretrained_grows_embeddings_for_a_larger_vocabulary(tmp_path: Path) -> None:
    build("hf_causal_lm").save_pretrained(tmp_path)
    spec = TaskSpec(LANGUAGE_MODELING, vocab_size=41, max_length=16)  # e.g. hf_pretrained added a pad token
    grown = build("hf_causal_lm", spec, pretrained=str(tmp_path))
    assert grown(torch.tensor([[40, 1, 2]])).shape == (1, 3, 41)


def test_causal_lm_cache_matches_full_forward_and_generates() -> None:
    model = build("hf_causal_lm").eval()
    ids = torch.randint(7, 30, (2, 8))
    with torch.no_grad():
        first, cache = model.forward_cached(ids[:, :5], None)
        rest, _ = model.forward_cached(ids[:, 5:], cache)
        torch.testing.assert_close(torch.cat([first, rest], 1), model(ids), atol=1e-5, rtol=1e-4)
    out = model.generate(ids[:, :3], max_new_tokens=4, temperature=0)
    assert out.shape == (2, 7) and torch.equal(out[:, :3], ids[:, :3])
    assert torch.equal(out, model.generate(ids[:, :3], max_new_tokens=4, temperature=0, use_cache=False))


def test_seq2seq_encode_decode_equals_forward() -> None:
    model = build("hf_seq2seq").eval()
    src, mask, tgt = inputs("hf_seq2seq")
    with torch.no_grad():
        memory = model.encode(src, mask)
        assert memory.shape == (2, 6, TINY["d_model"])
        torch.testing.assert_close(model.decode(tgt, memory, mask), model(src, mask, tgt))


@pytest.mark.parametrize("name", list(SPECS))
def test_wrong_task_kind_is_refused(name: str) -> None:
    other = next(spec for key, spec in SPECS.items() if key != name)
    with pytest.raises(PlaitError, match=f"model={name}"):
        build(name, other)


def test_missing_pretrained_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match="no_such_model"):
        build("hf_causal_lm", pretrained=str(tmp_path / "no_such_model"))
    with pytest.raises(PlaitError, match="divisible"):
        build("hf_causal_lm", n_heads=3)


def test_listing_components_does_not_import_transformers() -> None:
    code = (
        "import sys\nfrom framework.cli.describe import print_describe, print_list\n"
        "print_list('model'); print_describe('model/hf_causal_lm')\n"
        "assert 'transformers' not in sys.modules, 'transformers imported by plait list'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "hf_seq2seq" in done.stdout and "pretrained" in done.stdout


def test_encoder_classifier_pools_the_classifier_token_the_task_names() -> None:
    spec = TaskSpec(CLASSIFICATION, vocab_size=40, n_classes=3, max_length=16, extra={"cls_id": 4})
    model = build("hf_encoder_classifier", spec).eval()
    ids, mask = inputs("hf_encoder_classifier")
    with torch.no_grad():
        ours = model(ids, mask)
        cls = torch.full((2, 1), 4)
        direct = model.hf(input_ids=torch.cat([cls, ids], 1), attention_mask=torch.cat([cls * 0 + 1, mask.long()], 1))
    torch.testing.assert_close(ours, direct.logits)
    assert not torch.allclose(ours, model.hf(input_ids=ids, attention_mask=mask.long()).logits)
