"""Classification metrics from predictions: accuracy, macro-F1, confusion matrix."""

from __future__ import annotations

import torch
from torch import Tensor


def confusion_matrix(preds: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """(n_classes, n_classes) counts; rows are true classes, columns predictions."""
    flat = labels.long() * n_classes + preds.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def macro_f1(confusion: Tensor) -> float:
    """Unweighted mean of per-class F1 (classes absent from both labels and predictions count as 0)."""
    tp = confusion.diag().double()
    precision = tp / confusion.sum(0).double().clamp_min(1)
    recall = tp / confusion.sum(1).double().clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    return float(f1.mean())


def accuracy(confusion: Tensor) -> float:
    """Share of correct predictions."""
    return float(confusion.diag().sum() / confusion.sum().clamp_min(1))
