"""Translation: parallel data, tokenizer roles, teacher-forcing batches, beam search, BLEU/chrF."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from tiny import SMALL_RNN, TRANSLATION, char_factory
from torch import Tensor, nn

from framework.kinds import MODELS, TASKS
from framework.testing import run_quick
from framework.tokenizer import Tokenizer
from plugins.tasks.beam_search import beam_search
from plugins.tasks.text_data import DataError
from plugins.tasks.translation import TranslationTask, corpus_scores

PAD, BOS, EOS, A, B = 0, 2, 3, 7, 8


def write_parallel(directory: Path, n: int = 30, extra_target: int = 0) -> str:
    (directory / "train.de").write_text("".join(f"satz nummer {i}\n" for i in range(n)))
    (directory / "train.en").write_text("".join(f"sentence number {i}\n" for i in range(n + extra_target)))
    return str(directory / "train.{lang}")


def setup(roles: list[str] | None = None, **options: object) -> TranslationTask:
    def factory(role: str, texts: Callable[[], Iterable[str]]) -> Tokenizer:
        if roles is not None:
            roles.append(role)
        return char_factory(role, texts)

    task = TASKS.build(TASKS.config("translation", **{"demo_size": 60, **options}))
    task.spec = task.setup(factory)
    return task


def test_line_aligned_files_with_separate_tokenizers(tmp_path: Path) -> None:
    roles: list[str] = []
    task = setup(roles, train_path=write_parallel(tmp_path), source_lang="de", target_lang="en", val_ratio=0.2)
    assert roles == ["source", "target"] and task.src_tok is not task.tgt_tok
    assert len(task.data["val"].references) == 6 and task.data["val"].references[0].startswith("sentence number")
    assert task.spec.kind == "seq2seq" and task.spec.target_vocab_size == task.tgt_tok.vocab_size
    assert task.spec.extra == {"bos_id": task.bos_id, "eos_id": task.eos_id}


def test_shared_vocabulary_and_a_column_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("de\ten\n" + "".join(f"hallo {i}\thello {i}\n" for i in range(20)))
    roles: list[str] = []
    task = setup(roles, train_path=str(path), val_path=str(path), source_lang="de", target_lang="en", shared_vocab=True)
    assert roles == ["shared"] and task.src_tok is task.tgt_tok
    assert task.data["train"].sources[0] == "hallo 0" and task.data["train"].references[0] == "hello 0"


def test_parallel_files_of_different_lengths_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train.de has 30 lines but .*train.en has 31"):
        setup(train_path=write_parallel(tmp_path, extra_target=1), source_lang="de", target_lang="en")


def test_batches_teacher_forcing_and_exact_resume() -> None:
    task = setup()
    full = list(task.batches("train", batch_size=8, epoch_seed=1))
    batch = full[0]
    tgt_in, tgt_out = batch["tgt_in"], batch["tgt_out"]
    assert (tgt_in[:, 0] == task.bos_id).all()
    for row_in, row_out in zip(tgt_in, tgt_out, strict=True):
        n = int((row_out != task.pad_id).sum())
        assert torch.equal(row_in[1:n], row_out[: n - 1]) and row_out[n - 1] == task.eos_id  # shifted by one
    tail = list(task.batches("train", batch_size=8, epoch_seed=1, start=3))
    assert all(torch.equal(a["src_ids"], b["src_ids"]) for a, b in zip(full[3:], tail, strict=True))


def test_evaluation_batches_are_shared_out_and_each_process_gathers_only_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = setup(val_ratio=0.3)
    every = list(task.eval_batches("val", batch_size=4))
    made = [0]
    batch = task._batch

    def counted(*args: object) -> object:
        made[0] += 1
        return batch(*args)

    monkeypatch.setattr(task, "_batch", counted)
    for rank in range(2):
        made[0] = 0
        own = list(task.eval_rank_batches("val", batch_size=4, rank=rank, world=2))
        assert made[0] == len(own) == len(every[rank::2]) > 0
        assert all(torch.equal(a["src_ids"], b["src_ids"]) for a, b in zip(own, every[rank::2], strict=True))


class ScriptedModel(nn.Module):
    """Next-token probabilities by target prefix, chosen so that greedy decoding misses the best sentence:
    greedy: A (0.6) A (0.4) EOS (1.0) = 0.24;  best: B (0.4) EOS (0.9) = 0.36."""

    TABLE = {(): {A: 0.6, B: 0.4}, (A,): {A: 0.4, B: 0.3, EOS: 0.3}, (A, A): {EOS: 1.0}, (B,): {EOS: 0.9, A: 0.1}}

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        return src_ids.float()

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor:
        logits = torch.full((tgt_in.shape[0], tgt_in.shape[1], 10), -1e9)
        for row, prefix in enumerate(tgt_in.tolist()):
            for token, p in self.TABLE.get(tuple(prefix[1:]), {EOS: 1.0}).items():
                logits[row, -1, token] = math.log(p)
        return logits


def test_beam_search_finds_what_greedy_misses() -> None:
    src, mask = torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool)
    run = dict(bos_id=BOS, eos_id=EOS, length_penalty=0.0, autocast=nullcontext)
    assert beam_search(ScriptedModel(), src, mask, beam_size=1, **run) == [[A, A], [A, A]]
    assert beam_search(ScriptedModel(), src, mask, beam_size=2, **run) == [[B], [B]]
    assert beam_search(ScriptedModel(), src, mask, beam_size=1, max_new_tokens=1, **run) == [[A], [A]]


def test_greedy_beam_equals_a_plain_argmax_loop() -> None:
    task = setup()
    cfg = MODELS.config("transformer_seq2seq", d_model=16, n_heads=2, n_layers=1, d_ff=32, max_length=64)
    torch.manual_seed(0)
    model = MODELS.build(cfg, spec=task.spec).eval()
    batch = next(task.batches("val", batch_size=3, epoch_seed=0))
    src, mask = batch["src_ids"], batch["src_mask"]
    found = beam_search(model, src, mask, bos_id=task.bos_id, eos_id=task.eos_id, beam_size=1, max_new_tokens=8)
    with torch.no_grad():
        memory = model.encode(src, mask)
        for row in range(3):
            ids = [task.bos_id]
            for _ in range(8):
                nxt = int(model.decode(torch.tensor([ids]), memory[row : row + 1], mask[row : row + 1])[0, -1].argmax())
                if nxt == task.eos_id:
                    break
                ids.append(nxt)
            assert found[row] == ids[1:]


def test_sacrebleu_scores_and_signatures() -> None:
    refs = ["a dog runs in the park", "two cats sleep on a warm mat"]
    perfect, wrong = corpus_scores(refs, refs), corpus_scores(["x y z", "q"], refs)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert wrong["bleu"] < 5 and "tok:13a" in perfect["bleu_signature"] and "nc:6" in perfect["chrf_signature"]


@pytest.mark.parametrize("model", ["transformer_seq2seq", "gru"])
def test_translation_trains_and_reports_bleu(tmp_path: Path, model: str) -> None:
    overrides = [*TRANSLATION, f"model={model}"]
    if model == "gru":
        overrides = [o for o in overrides if not o.startswith("model.")] + SMALL_RNN
    result = run_quick(overrides, tmp_path / "run")
    assert {"val/loss", "val/perplexity", "val/bleu", "val/chrf"} <= set(result.metrics)
    assert 0.0 <= result.metrics["val/bleu"] <= 100.0
