"""task=question_answering, bAbI form: the reader, per-task metrics, flattening for encoders, training on
generated bAbI-like stories (loss falls, answers come out) through memn2n and the encoder heads."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import train_steps

from framework.engine.inference import load_run
from framework.errors import DataError
from framework.kinds import MODELS, TASKS
from framework.testing import run_quick
from plugins.models.kinds import flatten_story
from plugins.tasks import babi
from plugins.tasks.question_answering import QuestionAnsweringTask, story_sentences

PEOPLE = ["Mary", "John", "Sandra", "Daniel"]
PLACES = ["kitchen", "garden", "office", "hallway", "bathroom"]
OBJECTS = ["apple", "football", "milk"]


def location_story(rng: random.Random, n_questions: int = 2) -> list[str]:
    """A task-1-like story: people move, then 'Where is X?' asked about someone who moved."""
    lines, where = [], {}
    for _ in range(n_questions):
        for _ in range(2):
            person, place = rng.choice(PEOPLE), rng.choice(PLACES)
            where[person] = place
            lines.append(f"{person} went to the {place}.")
        person = rng.choice(sorted(where))
        lines.append(f"Where is {person}? \t{where[person]}\t1")
    return [f"{i} {text}" for i, text in enumerate(lines, 1)]


def carrying_story(rng: random.Random) -> list[str]:
    """A task-8-like story: the answer lists objects in pick-up order (a set)."""
    person = rng.choice(PEOPLE)
    held = rng.sample(OBJECTS, rng.randint(1, 2))
    lines = [f"{person} picked up the {obj}." for obj in held]
    lines.append(f"What is {person} carrying? \t{','.join(held)}\t1")
    return [f"{i} {text}" for i, text in enumerate(lines, 1)]


def write_babi(root: Path, n_train: int = 200, n_test: int = 40, seed: int = 0) -> Path:
    """A bAbI-like folder `root/en` with tasks 1 (locations) and 8 (sets), train and test files."""
    rng = random.Random(seed)
    folder = root / "en"
    folder.mkdir(parents=True)
    for task, name, make in ((1, "single", location_story), (8, "lists", carrying_story)):
        for split, n in (("train", n_train), ("test", n_test)):
            lines = [line for _ in range(n) for line in make(rng)]
            (folder / f"qa{task}_{name}_{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def babi_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_babi(tmp_path_factory.mktemp("babi"))


# -- reader ------------------------------------------------------------------------------------------


def test_parse_babi_stories_context_and_set_answers() -> None:
    text = "1 Mary got the milk.\n2 Mary got the apple.\n3 What is Mary carrying?\tmilk,apple\t1 2\n"
    text += "4 Mary went home.\n5 Where is Mary?\thome\t4\n1 John left.\n2 Where is John?\tn,s\t1\n"
    sets = babi.parse_babi(text, task=8)
    assert [len(s.sentences) for s in sets.stories] == [3, 1]  # questions are not statements
    assert [q.n_context for q in sets.questions] == [2, 3, 1]
    assert [q.story for q in sets.questions] == [0, 0, 1]
    assert sets.questions[0].answer == "apple,milk"  # task 8: a set, canonical order
    paths = babi.parse_babi(text, task=19)
    assert paths.questions[2].answer == "n,s" and paths.questions[0].answer == "milk,apple"  # task 19: a path


def test_parse_errors_name_file_and_line() -> None:
    with pytest.raises(DataError, match="x.txt:2.*id 3 but 2 expected"):
        babi.parse_babi("1 Mary left.\n3 John left.\n", task=1, name="x.txt")
    with pytest.raises(DataError, match="x.txt:1"):
        babi.parse_babi("Mary left.\n", task=1, name="x.txt")


def test_split_by_story_is_deterministic_and_keeps_stories_whole(babi_root: Path) -> None:
    data = babi.read_babi(babi_root / "en", [1, 8], "train")
    train, val = babi.split_by_story(data, 0.1, seed=3)
    again, _ = babi.split_by_story(data, 0.1, seed=3)
    assert [q.where for q in train.questions] == [q.where for q in again.questions]
    assert not {q.story for q in train.questions} & {q.story for q in val.questions}
    for task in (1, 8):
        held = {q.story for q in val.questions if q.task == task}
        assert len(held) == 20  # 10% of 200 stories per task
    assert len(train.questions) + len(val.questions) == len(data.questions)


def test_missing_task_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    with pytest.raises(DataError, match="no qa3_\\*_train.txt.*SOURCE.md"):
        babi.read_babi(tmp_path / "en", [3], "train")


def test_task_scores_per_task_mean_and_passed() -> None:
    correct = np.array([1] * 100 + [1] * 94 + [0] * 6 + [1] * 95 + [0] * 5, dtype=bool)
    tasks = np.array([1] * 100 + [2] * 100 + [3] * 100)
    m = babi.task_scores(correct, tasks)
    assert m["error_qa1"] == 0.0 and m["error_qa2"] == pytest.approx(0.06) and m["error_qa3"] == pytest.approx(0.05)
    assert m["mean_error"] == pytest.approx(0.11 / 3)
    assert m["tasks_passed"] == 2  # error <= 5% passes, 6% does not
    assert "qa2       6.0  no" in babi.format_task_table(m)


def test_story_sentences_from_typed_text() -> None:
    assert story_sentences("1 Mary left. 2 John went home.\nSandra ran!") == [
        "Mary left.",
        "John went home.",
        "Sandra ran!",
    ]


def test_flatten_story_packs_real_tokens_in_order() -> None:
    story = torch.tensor([[[5, 6, 0], [7, 0, 0]], [[8, 0, 0], [0, 0, 0]]])
    question = torch.tensor([[9, 0], [10, 11]])
    ids, keep = flatten_story(story, question, pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 9], [8, 10, 11, 0]]
    assert keep.tolist() == [[True] * 4, [True, True, True, False]]


# -- task ----------------------------------------------------------------------------------------------


def word_factory(role, texts):
    from plugins.tokenizers.word import WordTokenizer, WordTokenizerConfig

    tok = WordTokenizer(WordTokenizerConfig(lowercase=True))
    tok.train(texts())
    return tok


def build_task(babi_root: Path, **options: object) -> QuestionAnsweringTask:
    cfg = TASKS.config("question_answering", babi_root=str(babi_root), babi_tasks=[1, 8], **options)
    task = TASKS.build(cfg)
    task.spec = task.setup(word_factory)
    return task


def test_batches_hold_the_recent_story_and_answers(babi_root: Path) -> None:
    task = build_task(babi_root, memory_size=3)
    labels = getattr(task.spec, "labels", None) or task.spec.extra["labels"]
    assert "apple,football" in labels and "football,apple" not in labels and "kitchen" in labels
    assert task.splits() == ["train", "val", "test"]
    batch = next(task.batches("val", batch_size=8, epoch_seed=0))
    story, question = batch["story"], batch["question"]
    assert task.tokenizer.decode(question[0].tolist()).split()[:2] in (["where", "is"], ["what", "is"])
    assert story.shape[0] == 8 and story.shape[1] <= 3  # at most memory_size sentences
    assert (batch["answer"] >= 0).all() and set(batch["task"].tolist()) <= {1, 8}
    first = [task.tokenizer.decode(s.tolist()) for s in story[0] if s.any()]
    assert first and all(s.endswith(".") and s.split()[0] in {p.lower() for p in PEOPLE} for s in first), first
    order1 = [b["answer"].tolist() for b in task.batches("train", batch_size=16, epoch_seed=1)]
    order2 = [b["answer"].tolist() for b in task.batches("train", batch_size=16, epoch_seed=1, start=2)]
    assert order1[2:] == order2  # resumable: start skips whole batches of the same order


def test_babi_batches_match_building_each_story_row_by_row(babi_root: Path) -> None:
    """The padded-table gathers give what encoding, cutting and padding each question's recent story would."""
    task = build_task(babi_root, memory_size=3, max_sentence_length=4, max_question_length=5)
    data = task._split("train")
    raw, tok, pad_id = data.text, task.tokenizer, task.pad_id
    rng = np.random.default_rng(0)
    for _ in range(10):
        idx = rng.choice(len(raw.questions), size=7, replace=False)
        batch = task._batch(data, idx)
        stories = [raw.stories[raw.questions[i].story].sentences[: raw.questions[i].n_context][-3:] for i in idx]
        n = max(1, max(map(len, stories)))
        rows = [[tok.encode(x)[:4] for x in st] + [[]] * (n - len(st)) for st in stories]
        width = max(1, max(len(r) for st in rows for r in st))
        expected = torch.tensor([[r + [pad_id] * (width - len(r)) for r in st] for st in rows])
        assert torch.equal(batch["story"], expected)
        qs = [tok.encode(raw.questions[i].text)[:5] for i in idx]
        q_width = max(map(len, qs))
        assert torch.equal(batch["question"], torch.tensor([q + [pad_id] * (q_width - len(q)) for q in qs]))
        assert batch.n_tokens == int((expected != pad_id).sum()) + sum(map(len, qs))


@pytest.mark.parametrize(
    ("model", "options", "lr", "steps", "floor"),
    [
        ("memn2n", {"d_model": 20, "hops": 2}, 0.02, 120, 0.35),
        (
            "transformer_encoder",
            {"d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64, "positional": "rope"},
            3e-3,
            120,
            0.35,
        ),
        ("gru", {"d_model": 32, "d_hidden": 32, "bidirectional": True}, 1e-2, 120, 0.35),
        # BERT (post-norm, learned positions) learns this more slowly (at 3e-3 its loss stalled on an AMX Xeon, so 1e-3):
        # 0.23 accuracy after 120 steps, 0.32-0.40 after
        # 400 (by thread count), 0.38 after 600 with 1 or 2 threads; the most frequent answer alone scores 0.17
        (
            "hf_encoder_classifier",
            {"d_model": 64, "n_heads": 2, "n_layers": 1, "d_ff": 128, "dropout": 0.0},
            1e-3,
            600,
            0.3,
        ),
    ],
)
def test_models_learn_generated_babi(
    babi_root: Path, model: str, options: dict, lr: float, steps: int, floor: float
) -> None:
    task = build_task(babi_root)
    torch.manual_seed(0)
    net = MODELS.build(MODELS.config(model, **options), spec=task.spec)
    losses = train_steps(task, net, steps, lr)
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:5]), (losses[:5], losses[-10:])
    net.eval()
    with torch.no_grad():
        metrics = task.reduce([task.eval_step(net, b) for b in task.batches("val", batch_size=32, epoch_seed=0)])
    assert set(metrics) >= {"loss", "accuracy", "error_qa1", "error_qa8", "mean_error", "tasks_passed"}
    assert metrics["accuracy"] > floor  # the most frequent answer alone scores 0.17
    assert "qa8" in task.details()["summary"]


def test_train_eval_and_answer_end_to_end(babi_root: Path, tmp_path: Path) -> None:
    overrides = [
        "task=question_answering",
        f"task.babi_root={babi_root}",
        "task.babi_tasks=[1,8]",
        "tokenizer=word",
        "tokenizer.lowercase=true",
        "model=memn2n",
        "model.d_model=20",
        "precision=fp32",
        "optimizer=adam",
        "optimizer.lr=0.02",
        "trainer.max_steps=150",
        "trainer.batch_size=16",
        "trainer.eval_every_n_steps=150",
        "trainer.checkpoint_every_n_steps=150",
        "objective=val/accuracy",
    ]
    result = run_quick(overrides, tmp_path / "run")
    assert result.metrics["val/accuracy"] > 0.6, result.metrics
    built = load_run(tmp_path / "run")
    story = "Mary went to the kitchen. John went to the garden. Mary went to the office."
    with torch.no_grad():
        answers = built.task.answer(built.model, [{"context": story, "question": "Where is Mary?"}])
    assert answers[0]["answer"] in PLACES and 0.0 < answers[0]["confidence"] <= 1.0
