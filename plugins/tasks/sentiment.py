"""Sentiment / text classification: labelled sentences -> class logits; accuracy and macro-F1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.registry import TASKS, ComponentConfig
from framework.task import CLASSIFICATION, Batch, Task, TaskSpec, TokenizerFactory
from plugins.tasks import synthetic_sentiment
from plugins.tasks.classification_metrics import accuracy, confusion_matrix, macro_f1
from plugins.tasks.text_data import DataError, read_columns


@dataclass
class SentimentConfig(ComponentConfig):
    """Where the labelled text is and how to read it."""

    train_path: Optional[str] = None  # TSV/CSV/JSONL with text and label columns; null: the generated demo corpus
    val_path: Optional[str] = None  # null: a deterministic val_ratio share of the training file
    test_path: Optional[str] = None  # optional held-out file
    format: str = "auto"  # auto (from the suffix) | tsv | csv | jsonl
    text_column: str = "text"  # column / key holding the sentence
    label_column: str = "label"  # column / key holding the label (a class name or a 0-based id)
    labels: Optional[list[str]] = field(default_factory=lambda: list(synthetic_sentiment.LABELS))  # class names
    n_classes: Optional[int] = None  # with labels=null: ids 0..n_classes-1; both null: inferred from the data
    max_length: int = 128  # tokens kept per sentence
    val_ratio: float = 0.1  # share of train held out when val_path is null
    demo_size: int = 6000  # sentences in the generated training corpus
    seed: int = 1234  # seed of the generated corpus and of the train/val split


@dataclass
class Examples:
    """Token ids and label ids of one split."""

    ids: list[Tensor]
    labels: Tensor


class ClassificationTask(Task):
    """Sequence classification; the model maps (input_ids, attention_mask) to (B, n_classes) logits."""

    throughput_unit = "tokens"

    def __init__(self, cfg: SentimentConfig, data_root: str | None = None) -> None:
        self.cfg = cfg
        self.data: dict[str, Examples] = {}
        self.class_names: list[str] = []
        self.pad_id = 0

    # -- data ------------------------------------------------------------------------------------

    def _raw_splits(self) -> dict[str, list[tuple[str, str, str]]]:
        """split -> [(text, label, where)] where `where` is `file:line` for error messages."""
        c = self.cfg
        if c.train_path is None:
            gen = synthetic_sentiment.splits(c.demo_size, c.seed)
            return {
                s: [(t, lab, f"<generated {s}>:{i}") for i, (t, lab) in enumerate(rows, 1)] for s, rows in gen.items()
            }
        out = {"train": self._read(c.train_path)}
        if c.val_path:
            out["val"] = self._read(c.val_path)
        else:
            rows = out["train"]
            order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(c.seed)).tolist()
            n_val = max(1, int(len(rows) * c.val_ratio))
            out["val"] = [rows[i] for i in order[:n_val]]
            out["train"] = [rows[i] for i in order[n_val:]]
        if c.test_path:
            out["test"] = self._read(c.test_path)
        return out

    def _read(self, path: str) -> list[tuple[str, str, str]]:
        cols = [self.cfg.text_column, self.cfg.label_column]
        rows = []
        for line, rec in read_columns(path, cols, self.cfg.format):
            text = rec[self.cfg.text_column].strip()
            if not text:
                raise DataError(f"{path}:{line}: empty text in column '{self.cfg.text_column}'; remove the line")
            rows.append((text, rec[self.cfg.label_column].strip(), f"{path}:{line}"))
        if not rows:
            raise DataError(f"{path}: no examples found")
        return rows

    def _resolve_classes(self, train: list[tuple[str, str, str]]) -> list[str]:
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
        return sorted({label for _, label, _ in train})

    def _label_id(self, label: str, where: str) -> int:
        names = [n.lower() for n in self.class_names]
        if label.lower() in names:
            return names.index(label.lower())
        if label.lstrip("-").isdigit():
            value = int(label)
            if 0 <= value < len(names):
                return value
            raise DataError(f"{where}: label {value} is outside 0..{len(names) - 1} (task has {len(names)} classes)")
        raise DataError(f"{where}: unknown label '{label}'; known labels: {', '.join(self.class_names)}")

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        raw = self._raw_splits()
        self.class_names = self._resolve_classes(raw["train"])
        self.tokenizer = tokenizer_factory("text", lambda: [t for t, _, _ in raw["train"]])
        self.pad_id = self.tokenizer.pad_id
        for split, rows in raw.items():
            labels = torch.tensor([self._label_id(lab, where) for _, lab, where in rows])
            encoded = self.tokenizer.encode_batch([t for t, _, _ in rows])
            ids = [torch.tensor(e[: self.cfg.max_length] or [self.tokenizer.special_id("unk")]) for e in encoded]
            self.data[split] = Examples(ids, labels)
        return TaskSpec(
            kind=CLASSIFICATION,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.pad_id,
            n_classes=len(self.class_names),
            max_length=self.cfg.max_length,
            vocab=self.tokenizer.vocabulary(),
        )

    def splits(self) -> list[str]:
        return list(self.data)

    def collate(self, ids: list[Tensor], labels: Tensor) -> Batch:
        """Pad a list of id tensors into (B, T) input_ids and a boolean attention_mask."""
        lengths = torch.tensor([len(x) for x in ids])
        input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=self.pad_id)
        mask = torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]
        tensors = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
        return Batch(tensors, n_samples=len(ids), n_tokens=int(lengths.sum()))

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        data = self.data[split]
        n = len(data.ids)
        if split == "train":
            order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed))
        else:
            order = torch.arange(n)
        for b in range(start, (n + batch_size - 1) // batch_size):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield self.collate([data.ids[i] for i in idx.tolist()], data.labels[idx])

    # -- loss and metrics ------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        logits = model(batch["input_ids"], batch["attention_mask"])
        return F.cross_entropy(logits.float(), batch["labels"])

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        split: str,
        *,
        batch_size: int,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager],
    ) -> dict[str, float]:
        total_loss, preds, labels = 0.0, [], []
        for batch in self.batches(split, batch_size=batch_size, epoch_seed=0):
            batch = batch.to(device)
            with autocast():
                logits = model(batch["input_ids"], batch["attention_mask"]).float()
            total_loss += float(F.cross_entropy(logits, batch["labels"], reduction="sum"))
            preds.append(logits.argmax(-1).cpu())
            labels.append(batch["labels"].cpu())
        conf = confusion_matrix(torch.cat(preds), torch.cat(labels), len(self.class_names))
        n = int(conf.sum())
        return {"loss": total_loss / max(n, 1), "accuracy": accuracy(conf), "macro_f1": macro_f1(conf)}


@TASKS.register("sentiment", config=SentimentConfig)
def build_sentiment(cfg: SentimentConfig, *, data_root: str | None = None) -> ClassificationTask:
    """Sentiment classification (3 classes by default) from TSV/CSV/JSONL, or a generated demo corpus."""
    return ClassificationTask(cfg, data_root)
