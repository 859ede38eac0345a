"""The bag-of-embeddings classifier (`model=bag_of_embeddings`): mean of token embeddings, then a linear layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from framework import CLASSIFICATION, PlaitError, TaskSpec
from plait_example.configs import BagOfEmbeddingsConfig


class BagOfEmbeddings(nn.Module):
    """Mean of token embeddings over real tokens, then a linear classifier (fastText-like)."""

    def __init__(self, cfg: BagOfEmbeddingsConfig, vocab_size: int, n_classes: int, pad_id: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.d_model, padding_idx=pad_id)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.d_model, n_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        weights = attention_mask.unsqueeze(-1).to(self.embed.weight.dtype)
        pooled = (self.embed(input_ids) * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return self.head(self.drop(pooled))


def build_bag_of_embeddings(cfg: BagOfEmbeddingsConfig, *, spec: TaskSpec) -> BagOfEmbeddings:
    """fastText-style classifier from the plait-example package."""
    if spec.kind != CLASSIFICATION:
        raise PlaitError(f"bag_of_embeddings only classifies; task kind is '{spec.kind}'")
    return BagOfEmbeddings(cfg, spec.vocab_size, spec.n_classes or 2, spec.pad_id)
