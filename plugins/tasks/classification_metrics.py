"""Classification metrics from predictions: accuracy, macro-F1, confusion matrix."""

from __future__ import annotations

import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    flat = labels.long() * n_classes + preds.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def precision_recall_f1(confusion: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class precision, recall and F1 (0 where undefined)."""
    tp = confusion.diag().double()
    precision = tp / confusion.sum(0).double().clamp_min(1)
    recall = tp / confusion.sum(1).double().clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    return precision, recall, f1


def macro_f1(confusion: Tensor) -> float:
    """Unweighted mean of per-class F1 (classes absent from both labels and predictions count as 0)."""
    return float(precision_recall_f1(confusion)[2].mean())


def accuracy(confusion: Tensor) -> float:
    """Share of correct predictions."""
    return float(confusion.diag().sum() / confusion.sum().clamp_min(1))


def per_class_report(confusion: Tensor, names: list[str]) -> dict[str, dict[str, float]]:
    """Per class: precision, recall, F1 and support (number of true examples)."""
    precision, recall, f1 = precision_recall_f1(confusion)
    support = confusion.sum(1)
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }


def format_report(report: dict[str, dict[str, float]], confusion: list[list[int]], names: list[str]) -> str:
    """A per-class table and the confusion matrix (rows: true class, columns: predicted) as text."""
    width = max(8, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        r = report[name]
        lines.append(
            f"{name:<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:5.4f}  {int(r['support']):7d}"
        )
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    lines.append(" " * width + "  " + "  ".join(f"{n[:width]:>{width}}" for n in names))
    for name, row in zip(names, confusion, strict=True):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)
