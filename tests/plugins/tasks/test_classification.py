"""Text classification / sentiment: data and labels, bucketed resumable batches, metrics and their report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny import SENTIMENT, char_factory

from framework.engine.evaluation import evaluate
from framework.kinds import MODELS, PRECISIONS, TASKS
from framework.testing import run_quick
from plugins.tasks.classification import ClassificationTask
from plugins.tasks.text_data import DataError

CPU = torch.device("cpu")
SST5 = "".join(f"{label} a film with {label} stars and words\n" for label in (0, 1, 2, 3, 4, 4, 3, 2, 1, 0))


def setup(**options: object) -> ClassificationTask:
    name = options.pop("name", "text_classification")
    task = TASKS.build(TASKS.config(str(name), **options))
    task.spec = task.setup(char_factory)
    return task


def model_for(task: ClassificationTask) -> torch.nn.Module:
    cfg = MODELS.config("transformer_encoder", d_model=16, n_heads=2, n_layers=1, d_ff=32, max_length=128)
    return MODELS.build(cfg, spec=task.spec).eval()


def test_sst5_label_first_mapped_to_three_classes(tmp_path: Path) -> None:
    path = tmp_path / "stsa.fine.train"
    path.write_text(SST5)
    label_map = {0: "negative", 1: "negative", 2: "neutral", 3: "positive", 4: "positive"}
    task = setup(name="sentiment", train_path=str(path), val_path=str(path), format="label_first", label_map=label_map)
    assert task.class_names == ["negative", "neutral", "positive"] and task.spec.n_classes == 3
    assert task.data["val"].labels.tolist() == [0, 0, 1, 2, 2, 2, 2, 1, 0, 0]


def test_classes_from_data_or_from_n_classes(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"text": "t{i}", "label": "{c}"}}\n' for i, c in enumerate("ccabbac")))
    assert setup(train_path=str(path), val_ratio=0.3).class_names == ["a", "b", "c"]
    path.write_text("".join(f'{{"text": "t{i}", "label": {c}}}\n' for i, c in enumerate([0, 2, 1, 10, 2])))
    assert setup(train_path=str(path), val_path=str(path)).class_names == ["0", "1", "2", "10"]
    task = setup(train_path=str(path), val_path=str(path), n_classes=11)
    assert task.spec.n_classes == 11 and task.data["train"].labels.tolist() == [0, 2, 1, 10, 2]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("text\tlabel\ngood\t1\nbad\t5\n", {"n_classes": 2}, r"d.tsv:3: label 5 is outside 0..1"),
        (
            "text\tlabel\ngood\tpositive\nbad\tawful\n",
            {"labels": ["negative", "positive"]},
            r"d.tsv:3: unknown label 'awful'",
        ),
        ("text\tlabel\ngood\t1\nbad\t7\n", {"label_map": {1: "pos"}}, r"d.tsv:3: label '7' is not in task.label_map"),
        ("text\tlabel\n   \tpositive\n", {}, r"d.tsv:2: empty text in column 'text'"),
        ("sentence\tlabel\ngood\t1\n", {}, r"d.tsv:1: missing column\(s\) \['text'\]"),
    ],
)
def test_bad_labels_and_rows_name_file_and_line(tmp_path: Path, content: str, options: dict, message: str) -> None:
    path = tmp_path / "d.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        setup(train_path=str(path), val_path=str(path), **options)


def test_batches_resume_exactly_and_group_lengths() -> None:
    task = setup(demo_size=200)  # text_classification: length-bucketed by default
    full = list(task.batches("train", batch_size=16, epoch_seed=5))
    tail = list(task.batches("train", batch_size=16, epoch_seed=5, start=4))
    assert len(tail) == len(full) - 4
    for a, b in zip(full[4:], tail, strict=True):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert sum(b.n_samples for b in full) == len(task.data["train"].labels)
    other = torch.cat([b["labels"] for b in task.batches("train", batch_size=16, epoch_seed=6)])
    assert not torch.equal(other, torch.cat([b["labels"] for b in full]))  # another epoch, another order
    padded = sum(int((~b["attention_mask"]).sum()) for b in full)
    assert padded < 0.2 * sum(b.n_tokens for b in full)  # bucketing keeps padding small


def test_evaluate_reports_per_class_scores_and_confusion_matrix() -> None:
    task = setup(name="sentiment", demo_size=200)
    model = model_for(task)
    metrics = evaluate(model, task, "val", precision=PRECISIONS.build({"_name_": "fp32"}), device=CPU, batch_size=32)
    details = task.details()
    conf = torch.tensor(details["confusion_matrix"])
    assert conf.sum() == len(task.data["val"].labels) and conf.shape == (3, 3)
    assert metrics["accuracy"] == pytest.approx(float(conf.diag().sum() / conf.sum()))
    assert sum(r["support"] for r in details["per_class"].values()) == conf.sum()
    assert "confusion matrix" in details["summary"] and "negative" in details["summary"]
    predictions = task.predict(model, ["the plot was great", "x"])
    assert [p["label"] in task.class_names for p in predictions] == [True, True]
    assert sum(predictions[0]["probs"].values()) == pytest.approx(1.0, abs=1e-5)


def test_sentiment_trains_end_to_end_and_text_classification_shares_the_task(tmp_path: Path) -> None:
    result = run_quick(SENTIMENT, tmp_path / "run")
    assert set(result.metrics) == {"val/loss", "val/accuracy", "val/macro_f1"}
    assert result.history[0]["train/loss"] > result.history[-1]["val/loss"] - 1.0  # finite, sensible
    assert type(TASKS.build(TASKS.config("text_classification"))) is type(TASKS.build(TASKS.config("sentiment")))
