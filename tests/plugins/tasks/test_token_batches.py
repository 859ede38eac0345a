"""`trainer.max_tokens` in the tasks of variable-length examples: each training batch holds at most the budget in
tokens, padding counted, every example once per epoch; a run trains with it; language modelling (fixed-length
blocks) refuses it before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runs import run_cli
from test_question_answering import word_factory, write_babi
from tiny import TRANSLATION, char_factory

from framework.engine.batching import epoch_batches
from framework.engine.config import TrainerConfig
from framework.kinds import TASKS
from framework.task import Task, TokenBatcher
from framework.testing import run_quick


def check_budget(task: Task, budget: int, padded: list[str], n_examples: int, seed: int = 5) -> None:
    """Every batch within `budget` for each of its `padded` (B, T) tensors; the epoch covers each example once;
    the same seed gives the same batches, and `start` skips exactly."""
    assert isinstance(task, TokenBatcher)
    batches = list(task.token_batches("train", max_tokens=budget, epoch_seed=seed))
    for batch in batches:
        for key in padded:
            assert batch[key].shape[0] * batch[key].shape[1] <= budget, (key, batch[key].shape)
    assert sum(b.n_samples for b in batches) == n_examples and len({b.n_samples for b in batches}) > 1
    later = list(task.token_batches("train", max_tokens=budget, epoch_seed=seed, start=3))
    assert len(later) == len(batches) - 3
    assert all(torch.equal(a[padded[0]], b[padded[0]]) for a, b in zip(batches[3:], later, strict=True))


def test_translation_batches_fill_the_budget_on_each_side() -> None:
    task = TASKS.build(TASKS.config("translation", demo_size=200, max_length=24))
    task.spec = task.setup(char_factory)
    check_budget(task, 300, ["src_ids", "tgt_in", "tgt_out"], task.num_examples("train"))


def test_classification_batches_and_the_trainer_uses_them() -> None:
    task = TASKS.build(TASKS.config("sentiment", demo_size=200))
    task.spec = task.setup(char_factory)
    check_budget(task, 400, ["input_ids"], task.num_examples("train"))
    cfg = TrainerConfig(max_tokens=400, seed=4)
    ours = list(epoch_batches(task, cfg, epoch=1, start=0, rank=0, world=1))
    direct = list(task.token_batches("train", max_tokens=400, epoch_seed=5))  # trainer.seed + epoch
    assert [b.n_samples for b in ours] == [b.n_samples for b in direct]
    halves = [list(epoch_batches(task, cfg, epoch=1, start=0, rank=r, world=2)) for r in (0, 1)]
    assert [b.n_samples for b in halves[0]] == [b.n_samples for b in direct[0 : 2 * len(halves[0]) : 2]]
    assert len(halves[0]) == len(halves[1]) == len(direct) // 2


def test_babi_counts_the_padded_story(tmp_path: Path) -> None:
    root = write_babi(tmp_path / "babi")
    task = TASKS.build(TASKS.config("question_answering", babi_root=str(root), babi_tasks=[1, 8]))
    task.spec = task.setup(word_factory)
    sentence = task.cfg.max_sentence_length
    for batch in task.token_batches("train", max_tokens=2000, epoch_seed=0):
        b, n, _ = batch["story"].shape
        assert b * n * sentence <= 2000
    assert np.all(task._token_lengths(task._split("train")) % sentence == 0)


@pytest.mark.slow
def test_a_translation_run_trains_with_a_token_budget(tmp_path: Path) -> None:
    result = run_quick([*TRANSLATION, "trainer.max_tokens=256"], tmp_path)
    assert result.history[0]["train/loss"] > 0 and "val/bleu" in result.metrics


def test_language_modelling_refuses_max_tokens_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ["task=language_modeling", "tokenizer=char", "model=transformer_decoder", "trainer.max_tokens=512"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "trainer.max_tokens=512" in out and "set trainer.batch_size" in out, out
    assert list(tmp_path.iterdir()) == []


def test_an_example_longer_than_the_budget_fails_before_the_first_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, out = run_cli(["task.demo_size=100", "trainer.max_tokens=3"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "trainer.max_tokens=3 is smaller than the longest example" in out, out
    assert "Traceback" not in out and "training to step" not in out
