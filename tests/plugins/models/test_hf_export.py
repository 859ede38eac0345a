"""End to end: a local GPT-2 checkpoint fine-tuned by plait, exported with `plait export`, reloaded by transformers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from framework.cli.commands.export import main as export_main
from framework.engine.inference import load_run
from framework.errors import PlaitError
from framework.testing import run_quick

TINY_TRAIN = ["precision=fp32", "trainer.max_steps=4", "task.cache=false"]
EOT = "<|endoftext|>"


def gpt2_checkpoint(directory: Path) -> int:
    """Save a tiny GPT-2 and a GPT-2-style tokenizer (no pad token) to `directory`; returns the model's vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from plugins.tasks.demo_corpora import lm_text

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[EOT], initial_alphabet=alphabet, show_progress=False)
    backend.train_from_iterator([lm_text(200, 0)], trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=EOT, eos_token=EOT, unk_token=EOT)
    hf_tok.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=backend.get_vocab_size(), n_positions=32, n_embd=16, n_layer=1, n_head=2, n_inner=32)
    GPT2LMHeadModel(config).save_pretrained(str(directory))
    return config.vocab_size


def test_finetune_pretrained_gpt2_export_and_reload(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pretrained = tmp_path / "gpt2_tiny"
    base_vocab = gpt2_checkpoint(pretrained)
    overrides = [
        "task=language_modeling",
        "task.block_size=16",
        "task.demo_size=200",
        "tokenizer=hf_pretrained",
        f"tokenizer.path={pretrained}",
        "model=hf_causal_lm",
        f"model.pretrained={pretrained}",
        "objective=val/loss",
        *TINY_TRAIN,
    ]
    result = run_quick(overrides, tmp_path / "run")
    assert result.checkpoint is not None and result.metrics["val/loss"] > 0

    out = tmp_path / "exported"
    export_main([str(tmp_path / "run"), str(out)])

    built = load_run(tmp_path / "run", device="cpu")
    ours, tokenizer = built.model, built.task.tokenizer
    assert tokenizer.vocab_size == base_vocab + 1 and tokenizer.pad_id == base_vocab  # pad added at the end
    hf_model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True).eval()
    hf_tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    original = AutoModelForCausalLM.from_pretrained(str(pretrained), local_files_only=True)

    text = "Der Hund läuft im Park."
    ids = hf_tok(text, add_special_tokens=False)["input_ids"]
    assert ids == tokenizer.encode(text)
    assert hf_tok.pad_token_id == tokenizer.pad_id and hf_tok.eos_token == EOT
    x = torch.tensor([ids])
    with torch.no_grad():
        torch.testing.assert_close(hf_model(input_ids=x).logits, ours(x))
    fine_tuned = hf_model.get_input_embeddings().weight[:base_vocab]
    assert not torch.allclose(fine_tuned, original.get_input_embeddings().weight)  # training changed the weights


def test_export_encoder_classifier(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    overrides = [
        "task.demo_size=300",
        "tokenizer=wordpiece",
        "model=hf_encoder_classifier",
        "model.n_layers=1",
        "model.d_model=16",
        "model.n_heads=2",
        "model.d_ff=32",
        *TINY_TRAIN,
    ]
    run_quick(overrides, tmp_path / "run")
    out = tmp_path / "exported"
    export_main([str(tmp_path / "run"), str(out)])

    built = load_run(tmp_path / "run", device="cpu")
    hf_model = AutoModelForSequenceClassification.from_pretrained(str(out), local_files_only=True).eval()
    hf_tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    batch = hf_tok(["a great film", "awful"], add_special_tokens=False, padding=True, return_tensors="pt")
    assert hf_tok.pad_token_id == 0 and hf_model.config.num_labels == 3
    with torch.no_grad():
        expected = built.model(batch["input_ids"], batch["attention_mask"].bool())
        cls = torch.full((2, 1), hf_tok.convert_tokens_to_ids("<cls>"))  # BERT pools the classifier token first
        ids, mask = (
            torch.cat([cls, batch["input_ids"]], 1),
            torch.cat([torch.ones_like(cls), batch["attention_mask"]], 1),
        )
        torch.testing.assert_close(hf_model(input_ids=ids, attention_mask=mask).logits, expected)


def test_export_seq2seq_with_source_and_target_tokenizers(tmp_path: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    overrides = ["task=translation", "task.demo_size=200", "task.eval_decode_limit=2", "task.max_decode_length=6"]
    sizes = ["model=hf_seq2seq", "model.n_layers=1", "model.d_model=16", "model.n_heads=2", "model.d_ff=32"]
    run_quick(
        [*overrides, *sizes, "tokenizer=bpe", "tokenizer.vocab_size=150", "objective=val/loss", *TINY_TRAIN],
        tmp_path / "run",
    )
    out = tmp_path / "exported"
    export_main([str(tmp_path / "run"), str(out)])

    built = load_run(tmp_path / "run", device="cpu")
    hf_model = AutoModelForSeq2SeqLM.from_pretrained(str(out), local_files_only=True).eval()
    source = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    target = AutoTokenizer.from_pretrained(str(out / "tokenizer_target"), local_files_only=True)
    assert source("a dog runs", add_special_tokens=False)["input_ids"] == built.task.src_tok.encode("a dog runs")
    assert target.vocab_size == built.spec.target_vocab_size
    src = torch.tensor([built.task.src_tok.encode("a dog runs")])
    mask = torch.ones_like(src, dtype=torch.bool)
    tgt = torch.tensor([[built.spec.extra["bos_id"], 9, 10]])
    with torch.no_grad():
        raw = hf_model(input_ids=src, attention_mask=mask.long(), decoder_input_ids=tgt).logits
        torch.testing.assert_close(raw[..., : built.spec.target_vocab_size], built.model(src, mask, tgt))


def test_export_refuses_a_non_hf_model(tmp_path: Path) -> None:
    overrides = ["task.demo_size=300", "model=transformer_encoder", "model.d_model=16", "model.d_ff=32", *TINY_TRAIN]
    run_quick(overrides, tmp_path / "run")
    with pytest.raises(
        PlaitError,
        match="format=transformers needs a model that exports to transformers .*hf_causal_lm.*model=transformer_encoder",
    ):
        export_main([str(tmp_path / "run"), str(tmp_path / "out"), "format=transformers"])
    assert not (tmp_path / "out").exists()


def test_export_usage_and_missing_run(tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match="usage: plait export"):
        export_main([str(tmp_path)])
    with pytest.raises(PlaitError, match="does not exist"):
        export_main([str(tmp_path / "nope"), str(tmp_path / "out")])
