"""Several validation sets (`task.extra_val_paths`) in every task with file-based splits: each extra set is a split
`val/<name>`, read through the task's own readers and token stores, and evaluated beside `val` as `<name>/<metric>`.

The check in each task: an extra set pointing at the same data as another split scores exactly what that split
scores, and one pointing at other data scores differently."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_question_answering import word_factory, write_babi
from test_squad import SPAN_OPTIONS, write_squad
from tiny import char_factory

import plugins.models  # noqa: F401  (registers the models these tests build)
from framework.engine.evaluation import evaluate_sets
from framework.errors import ConfigValueError, DataError
from framework.kinds import MODELS, TASKS
from framework.precision import PrecisionStrategy
from framework.task import Task
from plugins.tasks.synthetic_sentiment import generate

CPU = torch.device("cpu")
SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32}


def fp32() -> PrecisionStrategy:
    from framework.kinds import PRECISIONS

    return PRECISIONS.build(PRECISIONS.config("fp32"))


def scores(task: Task, model_name: str, **options: object) -> dict[str, float]:
    """`evaluate_sets` on `val` of a small seeded `model_name` for `task` (already set up, spec in task.spec)."""
    torch.manual_seed(0)
    model = MODELS.build(MODELS.config(model_name, **options), spec=task.spec)
    return evaluate_sets(model, task, "val", precision=fp32(), device=CPU, batch_size=8)


def same_and_other(metrics: dict[str, float], names: list[str], same: str = "") -> None:
    """`same/<m>` equals `<same><m>` for every metric m, and `other/loss` differs from it."""
    main = {k: v for k, v in metrics.items() if "/" not in k}
    assert set(metrics) == set(main) | {f"{n}/{k}" for n in ("same", "other") for k in names}
    for key in names:
        assert metrics[f"same/{key}"] == metrics[f"{same}{key}"], key
    assert metrics["other/loss"] != metrics[f"{same}loss"]


def sentiment_tsv(path: Path, n: int, seed: int) -> str:
    rows = "".join(f"{text}\t{label}\n" for text, label in generate(n, seed))
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    return str(path)


def test_classification_evaluates_each_extra_set_beside_val(tmp_path: Path) -> None:
    val = sentiment_tsv(tmp_path / "val.tsv", 40, 2)
    extra = {"same": val, "other": sentiment_tsv(tmp_path / "other.tsv", 40, 3)}
    cfg = TASKS.config("sentiment", demo_size=200, val_path=val, extra_val_paths=extra)
    task = TASKS.build(cfg)
    task.spec = task.setup(char_factory)
    assert task.splits() == ["train", "val", "test", "val/same", "val/other"]
    assert task.num_examples("val/other") == 40
    assert set(task.data_files()) == {"val", "val/same", "val/other"}
    same_and_other(scores(task, "transformer_encoder", **SMALL), ["loss", "accuracy", "macro_f1"])


def test_language_modeling_extra_sets_are_token_stores_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "val.txt").write_text("the cat sat on the mat. " * 20)
    (tmp_path / "other.txt").write_text("zebras quietly juggle xylophones! " * 20)
    extra = {"same": str(tmp_path / "val.txt"), "other": str(tmp_path / "other.txt")}
    cfg = TASKS.config("language_modeling", demo_size=200, block_size=16, val_path=extra["same"], extra_val_paths=extra)
    task = TASKS.build(cfg)
    task.spec = task.setup(char_factory)
    metrics = scores(task, "transformer_decoder", **SMALL, max_length=64)
    same_and_other(metrics, ["loss", "perplexity", "loss_per_char"])


def write_pairs(directory: Path, name: str, n: int, offset: int) -> str:
    (directory / f"{name}.de").write_text("".join(f"satz nummer {i + offset}\n" for i in range(n)))
    (directory / f"{name}.en").write_text("".join(f"sentence number {i + offset}\n" for i in range(n)))
    return str(directory / f"{name}.{{lang}}")


def test_translation_scores_each_extra_set_against_its_own_references(tmp_path: Path) -> None:
    langs = {"source_lang": "de", "target_lang": "en", "max_decode_length": 8, "eval_decode_limit": 5}
    val = write_pairs(tmp_path, "val", 12, 0)
    extra = {"same": val, "other": write_pairs(tmp_path, "other", 12, 500)}
    cfg = TASKS.config(
        "translation", train_path=write_pairs(tmp_path, "train", 40, 0), val_path=val, extra_val_paths=extra, **langs
    )
    task = TASKS.build(cfg)
    task.spec = task.setup(char_factory)
    metrics = scores(task, "transformer_seq2seq", **SMALL, max_length=64)
    same_and_other(metrics, ["loss", "perplexity", "bleu", "chrf"])


def test_squad_extra_set_is_a_squad_file(tmp_path: Path) -> None:
    path = write_squad(tmp_path / "s.json", n_articles=10)
    other = write_squad(tmp_path / "o.json", n_articles=3, seed=5)
    extra = {"same": str(path), "other": str(other)}
    cfg = TASKS.config("question_answering", squad_path=str(path), squad_test_path=str(path), **SPAN_OPTIONS)
    cfg.extra_val_paths = extra
    task = TASKS.build(cfg)
    task.spec = task.setup(word_factory)
    torch.manual_seed(0)
    model = MODELS.build(MODELS.config("transformer_encoder", **SMALL, max_length=40), spec=task.spec)
    options = {"precision": fp32(), "device": CPU, "batch_size": 8}
    metrics = evaluate_sets(model, task, "val", **options)
    test = evaluate_sets(model, task, "test", **options)  # the whole file: what `same` holds
    assert set(test) == {"loss", "exact_match", "f1"}  # only val brings the extra sets
    assert {k: metrics[f"same/{k}"] for k in test} == test and metrics["other/loss"] != test["loss"]


def test_babi_extra_set_is_a_folder_of_test_files(tmp_path: Path) -> None:
    root = write_babi(tmp_path / "babi")
    other = write_babi(tmp_path / "other", n_test=20, seed=7)
    extra = {"same": str(root / "en"), "other": str(other / "en")}
    cfg = TASKS.config("question_answering", babi_root=str(root), babi_tasks=[1, 8], extra_val_paths=extra)
    task = TASKS.build(cfg)
    task.spec = task.setup(word_factory)
    torch.manual_seed(0)
    model = MODELS.build(MODELS.config("memn2n", d_model=16, hops=1), spec=task.spec)
    options = {"precision": fp32(), "device": CPU, "batch_size": 8}
    metrics, test = evaluate_sets(model, task, "val", **options), evaluate_sets(model, task, "test", **options)
    assert {k: metrics[f"same/{k}"] for k in test} == test and metrics["other/loss"] != test["loss"]


def test_bad_extra_sets_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigValueError, match=r"extra_val_paths\.two words.*letters, digits"):
        TASKS.config("sentiment", extra_val_paths={"two words": "x.tsv"}).validate()
    task = TASKS.build(TASKS.config("sentiment", demo_size=100, extra_val_paths={"gone": str(tmp_path / "no.tsv")}))
    with pytest.raises(DataError, match=r"task\.extra_val_paths\.gone: data file not found"):
        task.setup(char_factory)
