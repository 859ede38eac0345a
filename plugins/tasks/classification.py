"""Text classification (and sentiment, the same task with 3-class defaults): sentences -> class logits.

Metrics: loss, accuracy, macro-F1; `details()` adds a per-class report and the confusion matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import (
    CLASSIFICATION,
    Batch,
    DataError,
    Partials,
    Ragged,
    Task,
    TaskSpec,
    TokenizerFactory,
    budget_batches,
    model_device,
    read_rows,
    special_token_ids,
)
from plugins.tasks import synthetic_sentiment
from plugins.tasks.batching import bucketed_batches, pad_rows
from plugins.tasks.classification_metrics import accuracy, confusion_matrix, format_report, macro_f1, per_class_report
from plugins.tasks.configs import SentimentConfig, TextClassificationConfig
from plugins.tasks.limits import first, limited_count
from plugins.tasks.split_tables import SplitRows, TableReader, TableSource, convert_values
from plugins.tasks.text_data import Row, SplitData, configured_splits, split_rows


@dataclass
class Examples:
    """Token ids and label ids of one split."""

    ids: Ragged
    labels: np.ndarray


class ClassificationTask(Task):
    """Sequence classification; the model maps (input_ids, attention_mask) to (B, n_classes) logits."""

    throughput_unit = "tokens"

    def __init__(self, cfg: TextClassificationConfig) -> None:
        self.cfg = cfg
        self.data: SplitData[Examples] = SplitData(self._prepare)
        self.tables = TableReader(cfg, f"classification:{cfg.text_column}:{cfg.label_column}", ["text"], ["label"])
        self.class_names: list[str] = []
        self.pad_id = 0
        self._details: dict[str, Any] = {}

    # -- data ------------------------------------------------------------------------------------

    def _source(self, path: str, split: str) -> TableSource:
        """The labelled sentences of one split's files, streamed; an empty sentence is an error naming its line."""
        c = self.cfg

        def rows() -> Iterator[Row]:
            for where, (text, label) in read_rows(path, [c.text_column, c.label_column], c.format, split=split):
                if not text.strip():
                    raise DataError(f"{where}: empty text in column '{c.text_column}'; remove the line")
                yield where, [text, label]

        return self.tables.file_source(path, split, self.tables.reader, rows, c.format)

    def _generated(self) -> dict[str, list[Row]]:
        gen = synthetic_sentiment.splits(self.cfg.demo_size, self.cfg.seed)
        return {
            s: [(f"<generated {s}>:{i}", [t, lab]) for i, (t, lab) in enumerate(rows, 1)] for s, rows in gen.items()
        }

    def _mapped(self, label: str, where: str) -> str:
        mapping = self.cfg.label_map
        if mapping is None:
            return label.strip()
        table = {str(k): v for k, v in mapping.items()}
        if label.strip() not in table:
            raise DataError(f"{where}: label '{label}' is not in task.label_map (keys: {', '.join(table)})")
        return table[label.strip()]

    def _resolve_classes(self, train: SplitRows) -> list[str]:
        c = self.cfg
        if c.labels is not None:
            if c.n_classes is not None and c.n_classes != len(c.labels):
                raise DataError(
                    f"task.n_classes={c.n_classes} but task.labels has {len(c.labels)} names; "
                    "set task.labels=null to use ids 0..n_classes-1"
                )
            return list(c.labels)
        if c.n_classes is not None:
            return [str(i) for i in range(c.n_classes)]
        found = set(convert_values(train, "label", self._mapped).values())
        return sorted(found, key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))

    def _label_id(self, label: str, where: str) -> int:
        names = [n.lower() for n in self.class_names]
        name = self._mapped(label, where)
        if name.lower() in names:
            return names.index(name.lower())
        if name.lstrip("-").isdigit():
            value = int(name)
            if 0 <= value < len(names):
                return value
            raise DataError(
                f"{where}: label {value} is outside 0..{len(names) - 1} (the task has {len(names)} classes); "
                "fix the label or set task.n_classes / task.labels"
            )
        raise DataError(f"{where}: unknown label '{name}'; known labels: {', '.join(self.class_names)}")

    def _examples(self, rows: SplitRows, split: str) -> Examples:
        """Token ids (a token store in the cache) and label ids of one split's rows."""
        ids = self.tables.encode(self.tokenizer, rows, "text", split)
        by_code = convert_values(rows, "label", self._label_id)
        lookup = np.zeros(len(rows.table.values("label")), dtype=np.int64)
        lookup[list(by_code)] = list(by_code.values())
        return Examples(ids, lookup[rows.codes("label")])

    def _prepare(self, split: str) -> Examples:
        """One split read on first use (a reopened run reads only the split it evaluates)."""
        return self._examples(split_rows(self.tables.load(self._source, self._generated, only=split), split), split)

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read and check every split, get the tokenizer, and tokenize (through the on-disk cache)."""
        raw = self.tables.load(self._source, self._generated)
        self.class_names = self._resolve_classes(raw["train"])
        self.tokenizer = self.tables.tokenizer(tokenizer_factory, "text", raw["train"], "text")
        self.pad_id = self.tokenizer.pad_id
        for split, rows in raw.items():
            self.data[split] = self._examples(rows, split)
        return TaskSpec(
            kind=CLASSIFICATION,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.pad_id,
            n_classes=len(self.class_names),
            max_length=self.cfg.max_length,
            vocab=self.tokenizer.vocabulary(),
            labels=list(self.class_names),
            extra=special_token_ids(self.tokenizer, ("cls", "sep")),  # for models that pool a classifier token
        )

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """Class names from the saved spec, the tokenizer from the run: no training data is read."""
        self.class_names = list(spec.labels)
        self.tokenizer = self.tables.tokenizer(tokenizer_factory, "text", None)
        self.pad_id = self.tokenizer.pad_id

    def metric_names(self) -> list[str]:
        """What `reduce` returns: loss, accuracy and macro-F1."""
        return ["loss", "accuracy", "macro_f1"]

    def splits(self) -> list[str]:
        """train and val, and test when a file (or the demo corpus) has it."""
        return configured_splits(self.cfg)

    def num_examples(self, split: str) -> int | None:
        """Sentences in `split`."""
        return limited_count(len(self.data[split].labels), self.cfg.limit(split))

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files setup read (path, bytes, sha256)."""
        return self.tables.data_files()

    def prepared(self) -> list[dict[str, Any]]:
        """What setup read, trained and tokenized, or found ready, with its time (`plait prepare` prints it)."""
        return list(self.tables.steps)

    def _inputs(self, rows: Ragged, idx: np.ndarray) -> tuple[Tensor, Tensor]:
        unk = self.tokenizer.special_id("unk")
        return pad_rows(rows, idx, self.pad_id, max_length=self.cfg.max_length, empty_id=unk)

    def _lengths(self, split: str) -> np.ndarray:
        """The length of each example of `split` that batches draw from (the first task.train_limit /
        task.eval_limit), cut at task.max_length (what bucketing and max_tokens count)."""
        lengths: np.ndarray = np.minimum(
            first(self.data[split].ids.lengths(), self.cfg.limit(split)), self.cfg.max_length
        )
        return lengths

    def _batch(self, data: Examples, idx: np.ndarray) -> Batch:
        input_ids, mask = self._inputs(data.ids, idx)
        tensors = {"input_ids": input_ids, "attention_mask": mask, "labels": torch.from_numpy(data.labels[idx])}
        return Batch(tensors, n_samples=len(idx), n_tokens=int(mask.sum()))

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Length-bucketed batches (shuffled by `epoch_seed` for train, length-sorted otherwise)."""
        seed = epoch_seed if split == "train" else None
        pool = self.cfg.bucket_pool_batches
        for idx in bucketed_batches(self._lengths(split), batch_size, seed=seed, pool_batches=pool)[start:]:
            yield self._batch(self.data[split], idx)

    def token_batches(self, split: str, *, max_tokens: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """`trainer.max_tokens`: batches of at most `max_tokens` tokens, padding counted (framework.budget_batches)."""
        seed = epoch_seed if split == "train" else None
        for idx in budget_batches(self._lengths(split), max_tokens, seed=seed)[start:]:
            yield self._batch(self.data[split], idx)

    # -- loss, metrics, prediction ---------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Cross-entropy of the class logits."""
        logits = model(batch["input_ids"], batch["attention_mask"])
        return F.cross_entropy(logits.float(), batch["labels"])

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        """Summed loss, predicted and true class ids of one batch."""
        logits = model(batch["input_ids"], batch["attention_mask"]).float()
        loss_sum = F.cross_entropy(logits, batch["labels"], reduction="sum")
        return {"loss_sum": loss_sum, "preds": logits.argmax(-1), "labels": batch["labels"]}

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        """loss, accuracy and macro-F1; the per-class report and confusion matrix go to `details()`."""
        preds = torch.cat([p["preds"] for p in partials])
        labels = torch.cat([p["labels"] for p in partials])
        conf = confusion_matrix(preds, labels, len(self.class_names))
        report = per_class_report(conf, self.class_names)
        self._details = {
            "classes": self.class_names,
            "per_class": report,
            "confusion_matrix": conf.tolist(),
            "summary": format_report(report, conf.tolist(), self.class_names),
        }
        total_loss = float(sum(float(p["loss_sum"]) for p in partials))
        n = int(conf.sum())
        return {"loss": total_loss / max(n, 1), "accuracy": accuracy(conf), "macro_f1": macro_f1(conf)}

    def details(self) -> dict[str, Any]:
        """Per-class precision/recall/F1/support and the confusion matrix of the last evaluation."""
        return dict(self._details)

    def predict(self, model: nn.Module, texts: list[str], *, batch_size: int = 64) -> list[dict[str, Any]]:
        """For each text: the predicted label, its probability and every class's probability."""
        device = model_device(model)
        results: list[dict[str, Any]] = []
        for start in range(0, len(texts), batch_size):
            encoded = Ragged.from_arrays(self.tokenizer.encode_batch(texts[start : start + batch_size]))
            input_ids, mask = self._inputs(encoded, np.arange(len(encoded)))
            logits = model(input_ids.to(device), mask.to(device)).float()
            for row in logits.softmax(-1).cpu().tolist():
                best = max(range(len(row)), key=row.__getitem__)
                probs = dict(zip(self.class_names, row, strict=True))
                results.append({"label": self.class_names[best], "confidence": row[best], "probs": probs})
        return results


def build_text_classification(cfg: TextClassificationConfig) -> ClassificationTask:
    """Text classification from TSV/CSV/JSONL/label_first files or a saved HF dataset; classes from data or config."""
    return ClassificationTask(cfg)


def build_sentiment(cfg: SentimentConfig) -> ClassificationTask:
    """Sentiment classification (3 classes by default) from labelled files, or a generated demo corpus."""
    return ClassificationTask(cfg)
