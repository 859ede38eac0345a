"""task.train_limit / task.eval_limit (debug=limit): every task draws its batches from the first examples of a
split (language modelling: the first tokens, whole blocks), and says so in num_examples."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf
from test_experiments import fake_data_root
from tiny import char_factory

from framework.engine.validation import check_split_sizes, validate_config
from framework.errors import ConfigValueError
from framework.kinds import TASKS
from framework.task import Task
from framework.testing import compose


def built(name: str, **options: Any) -> Task:
    task = TASKS.build(TASKS.config(name, **options))
    task.setup(char_factory)
    return task


def examples_seen(task: Task, split: str, batch_size: int) -> int:
    if split == "train":
        return sum(b.n_samples for b in task.batches(split, batch_size=batch_size, epoch_seed=1))
    return sum(b.n_samples for b in task.eval_batches(split, batch_size=batch_size))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("sentiment", {"demo_size": 300}),
        ("translation", {"demo_size": 120}),
    ],
)
def test_text_tasks_draw_batches_from_the_first_examples(name: str, options: dict[str, Any]) -> None:
    whole = built(name, **options)
    limited = built(name, **options, train_limit=50, eval_limit=7)
    assert whole.num_examples("train") > 50 and whole.num_examples("val") > 7
    assert limited.num_examples("train") == 50 and limited.num_examples("val") == 7
    assert examples_seen(limited, "train", 8) == 50 and examples_seen(limited, "val", 4) == 7
    for batch in limited.batches("train", batch_size=8, epoch_seed=2):
        ids = batch["index"] if "index" in batch.tensors else None
        assert ids is None or int(ids.max()) < 50  # the first 50 examples, shuffled among themselves


def test_classification_train_limit_keeps_the_first_examples_labels() -> None:
    limited = built("sentiment", demo_size=300, train_limit=40)
    labels = sorted(int(y) for b in limited.batches("train", batch_size=16, epoch_seed=0) for y in b["labels"].tolist())
    assert labels == sorted(limited.data["train"].labels[:40].tolist())  # type: ignore[attr-defined]


def test_language_modelling_counts_tokens_read_in_whole_blocks() -> None:
    whole = built("language_modeling", demo_size=200, block_size=16)
    limited = built("language_modeling", demo_size=200, block_size=16, train_limit=100, eval_limit=40)
    assert whole.num_examples("train") > 7 and whole.num_examples("val") > 3
    assert limited.num_examples("train") == math.ceil(100 / 16) and limited.num_examples("val") == math.ceil(40 / 16)
    tokens = np.asarray(limited.tokens["train"])  # type: ignore[attr-defined]
    read = [b["input_ids"] for b in limited.batches("train", batch_size=2, epoch_seed=5)]
    assert sum(x.shape[0] for x in read) <= 7  # a random offset may cost the last block
    for x in read:  # every block lies inside the first 7 * 16 + 1 tokens
        for row in x.numpy():
            starts = [s for s in range(7 * 16 + 1 - 16) if np.array_equal(tokens[s : s + 16], row)]
            assert starts, "a block from beyond the limit"
    assert sum(b.n_samples for b in limited.eval_batches("val", batch_size=2)) == 3


def test_question_answering_counts_items(tmp_path: Path) -> None:
    root = fake_data_root(tmp_path / "data")
    options = {"babi_root": str(root / "babi"), "babi_tasks": [1, 2]}
    whole = built("question_answering", **options)
    limited = built("question_answering", **options, train_limit=5, eval_limit=3)
    assert whole.num_examples("train") > 5 and whole.num_examples("test") > 3
    assert limited.num_examples("train") == 5 and limited.num_examples("test") == 3
    assert examples_seen(limited, "train", 2) == 5 and examples_seen(limited, "test", 2) == 3


@pytest.mark.parametrize("task", ["sentiment", "language_modeling", "translation", "question_answering"])
def test_every_task_has_the_keys_and_checks_them(task: str) -> None:
    cfg = compose([f"task={task}", "debug=limit"])
    assert cfg.task.train_limit == 5000 and cfg.task.eval_limit == 500
    with pytest.raises(ConfigValueError, match=r"task\.train_limit"):
        validate_config(compose([f"task={task}", "task.train_limit=0"]))


def test_split_size_checks_know_the_limits() -> None:
    cfg = compose(["task.demo_size=300", "task.train_limit=6", "task.eval_limit=3", "trainer.batch_size=4"])
    task = built("sentiment", demo_size=300, train_limit=6, eval_limit=3)
    assert check_split_sizes(task, cfg.trainer, cfg.task) == []  # few validation examples were asked for
    with pytest.raises(ConfigValueError, match=r"larger than the training split \(6 examples under task.train_limit=6"):
        check_split_sizes(task, OmegaConf.create({"batch_size": 8}), cfg.task)
