"""Language modelling: packed blocks, the tail validation split, perplexity, and sampling with or without a cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import LANGUAGE_MODELING, char_factory

import plugins.models  # noqa: F401  (registers the models these tests build)
from framework.kinds import MODELS, TASKS
from framework.testing import run_quick
from plugins.tasks.generation import generate_ids
from plugins.tasks.language_modeling import LanguageModelingTask
from plugins.tasks.text_data import DataError

CPU = torch.device("cpu")


def setup(**options: object) -> LanguageModelingTask:
    task = TASKS.build(TASKS.config("language_modeling", **{"demo_size": 200, "block_size": 16, **options}))
    task.spec = task.setup(char_factory)
    return task


def decoder(task: LanguageModelingTask, max_length: int = 64) -> torch.nn.Module:
    cfg = MODELS.config("transformer_decoder", d_model=16, n_heads=2, n_layers=1, d_ff=32, max_length=max_length)
    torch.manual_seed(0)
    return MODELS.build(cfg, spec=task.spec).eval()


def test_blocks_are_contiguous_shifted_windows_and_resume_exactly() -> None:
    task = setup()
    stream = np.asarray(task.tokens["train"])
    batches = list(task.batches("train", batch_size=4, epoch_seed=3))
    x, y = batches[0]["input_ids"], batches[0]["labels"]
    assert x.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    start = next(s for s in range(len(stream) - 16) if (stream[s : s + 16] == x[0].numpy()).all())
    assert (stream[start + 1 : start + 17] == y[0].numpy()).all()
    tail = list(task.batches("train", batch_size=4, epoch_seed=3, start=2))
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches[2:], tail, strict=True))
    val = [b["input_ids"] for b in task.batches("val", batch_size=4, epoch_seed=9)]
    assert torch.equal(val[0][0], torch.from_numpy(np.asarray(task.tokens["val"][:16]).astype(np.int64)))


def test_validation_is_the_last_val_ratio_of_the_training_tokens(tmp_path: Path) -> None:
    text = "".join(f"line number {i}\n" for i in range(100))
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    task = setup(train_path=str(path), val_ratio=0.2)
    n = len(text) + 1  # one id per character, and end-of-text after the document
    assert len(task.tokens["val"]) == n - int(n * 0.8) and len(task.tokens["train"]) == int(n * 0.8)
    assert text.endswith(task.tokenizer.decode(np.asarray(task.tokens["val"]).tolist()))


def test_rows_of_a_jsonl_file_are_documents_ended_by_eos(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(f'{{"body": "paragraph {i} of the text"}}\n' for i in range(40)))
    task = setup(train_path=str(path), format="jsonl", text_column="body")
    eos = task.tokenizer.special_id("eos")
    ids = np.asarray(task.tokens["train"][:60]).tolist()
    assert ids[: ids.index(eos) + 1] == [*task.tokenizer.encode("paragraph 0 of the text"), eos]
    assert task.tokenizer.decode(ids).startswith("paragraph 0 of the textparagraph 1")  # eos is a special token


def test_text_shorter_than_a_block_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("just a few words here\n" * 4)
    with pytest.raises(DataError, match=r"the val text has \d+ tokens, fewer than task.block_size \+ 1"):
        setup(train_path=str(path), block_size=32)


def test_cached_and_recomputed_generation_agree_and_seeds_repeat() -> None:
    task = setup()
    model = decoder(task)
    prompt = task.tokenizer.encode("the movie")
    run = dict(max_new_tokens=20, context=64)
    greedy = generate_ids(model, prompt, temperature=0.0, **run)
    assert greedy[: len(prompt)] == prompt and len(greedy) == len(prompt) + 20
    assert generate_ids(model, prompt, temperature=0.0, use_cache=False, **run) == greedy
    assert generate_ids(model, prompt, temperature=1.0, top_k=1, **run) == greedy
    sampled = generate_ids(model, prompt, temperature=1.0, top_p=0.9, seed=1, **run)
    assert generate_ids(model, prompt, temperature=1.0, top_p=0.9, seed=1, use_cache=False, **run) == sampled
    assert generate_ids(model, prompt, temperature=1.0, top_p=0.9, seed=2, **run) != sampled


def test_generation_longer_than_the_context_window() -> None:
    task = setup()
    model = decoder(task, max_length=16)
    for use_cache in (True, False):
        out = generate_ids(model, [5, 6, 7], max_new_tokens=40, context=16, seed=0, use_cache=use_cache)
        assert len(out) == 43


def test_language_model_trains_and_samples_text(tmp_path: Path) -> None:
    result = run_quick(LANGUAGE_MODELING, tmp_path / "run")
    assert result.metrics["val/perplexity"] == pytest.approx(math.exp(result.metrics["val/loss"]))
    assert result.metrics["val/loss"] < math.log(40)  # below a uniform guess over the ~40 characters


def test_loss_per_character_compares_tokenizers(tmp_path: Path) -> None:
    chars = run_quick(LANGUAGE_MODELING, tmp_path / "char").metrics
    assert chars["val/loss_per_char"] == pytest.approx(chars["val/loss"], rel=1e-6)  # one token per character
    subwords = [*LANGUAGE_MODELING, "tokenizer=bpe", "tokenizer.vocab_size=120"]
    bpe = run_quick(subwords, tmp_path / "bpe").metrics
    assert bpe["val/loss_per_char"] < bpe["val/loss"]  # a BPE token spans more than one character
