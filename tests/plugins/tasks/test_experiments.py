"""Every experiment in conf/experiment composes, names data_root when it is unset, and trains for two steps
on a miniature copy of the shared data layout (sst/, multi30k/, tinyshakespeare/, glove/, babi/, squad/)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from framework.kinds import TASKS
from framework.plugins import conf_dir
from framework.testing import compose, run_quick
from plugins.tasks.text_data import DataError

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
WORDS = ["the", "a", "film", "movie", "good", "bad", "great", "dull", "plot", "cast", "was", "is", "not", "very"]


def fake_data_root(root: Path) -> Path:
    """The files the experiments read, with the real names and formats but a few lines each."""
    (root / "sst").mkdir(parents=True)
    for kind, labels in (("binary", 2), ("fine", 5)):
        for split in ("train", "dev"):
            lines = [
                f"{i % labels} {' '.join(WORDS[(i + j) % len(WORDS)] for j in range(5 + i % 7))} ." for i in range(40)
            ]
            (root / "sst" / f"stsa.{kind}.{split}").write_text("\n".join(lines) + "\n")
    (root / "multi30k").mkdir()
    for split in ("train", "val", "test_2016_flickr"):
        (root / "multi30k" / f"{split}.de").write_text("".join(f"Ein Hund läuft {i} Mal.\n" for i in range(30)))
        (root / "multi30k" / f"{split}.en").write_text("".join(f"A dog runs {i} times.\n" for i in range(30)))
    (root / "tinyshakespeare").mkdir()
    speech = "".join(f"Citizen {i}:\nBefore we proceed {i} further, hear me speak.\n\n" for i in range(300))
    (root / "tinyshakespeare" / "input.txt").write_text(speech)
    (root / "glove").mkdir()
    vectors = "".join(
        f"{w} " + " ".join(f"{(i + d) % 7 / 10:.1f}" for d in range(50)) + "\n" for i, w in enumerate(WORDS)
    )
    with zipfile.ZipFile(root / "glove" / "glove.6B.50d.10k.zip", "w") as archive:
        archive.writestr("glove.6B.50d.10k.txt", vectors)
    story = "".join(f"1 Mary went to the {p}.\n2 Where is Mary?\t{p}\t1\n" for p in ("kitchen", "garden") * 6)
    for size in ("en", "en-10k"):
        (root / "babi" / size).mkdir(parents=True)
        for task in range(1, 21):
            for split in ("train", "test"):
                if not (size == "en-10k" and task == 3 and split == "train"):  # missing there, as in shared/data
                    (root / "babi" / size / f"qa{task}_x_{split}.txt").write_text(story)
    context = "Mary went to the kitchen and then to the garden."
    qa = {"id": "q", "question": "Where did Mary go first?", "answers": [{"text": "kitchen", "answer_start": 17}]}
    articles = [{"title": f"a{i}", "paragraphs": [{"context": context, "qas": [qa] * 4}]} for i in range(5)]
    (root / "squad").mkdir()
    (root / "squad" / "dev-v1.1.json").write_text(json.dumps({"data": articles}))
    return root


def test_there_are_nine_experiments() -> None:
    assert EXPERIMENTS == [
        "babi_10k_joint",
        "babi_1k_joint",
        "multi30k_gru_attention",
        "multi30k_transformer",
        "shakespeare_bpe_gpt",
        "shakespeare_char_gpt",
        "squad_dev_split_extractive",
        "sst2_lstm_glove",
        "sst5_transformer",
    ]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_without_data_root_the_error_says_to_set_it(experiment: str) -> None:
    cfg = compose([f"experiment={experiment}"])
    task = TASKS.build(cfg.task)
    with pytest.raises(DataError, match=r"set data_root=<path to shared/data>"):
        task.setup(lambda role, texts: pytest.fail("no tokenizer is needed before the data is found"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_two_steps_on_a_miniature_data_root(experiment: str, tmp_path: Path) -> None:
    root = fake_data_root(tmp_path / "data")
    small = ["trainer.max_steps=2", "trainer.batch_size=4", "trainer.eval_every_n_steps=2", "precision=fp32"]
    if experiment.startswith("multi30k"):
        small += ["task.eval_decode_limit=4", "task.max_decode_length=8"]
    if experiment.startswith("shakespeare"):
        small += ["task.eval_max_blocks=4"]
    result = run_quick([f"experiment={experiment}", f"data_root={root}", *small], tmp_path / "run")
    assert result.objective is not None and result.checkpoint is not None
