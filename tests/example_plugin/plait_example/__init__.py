"""Example third-party plugin, the reference a plugin author copies (see docs/plugins.md).

Importing this module (the `plait.plugins` entry point) registers `model=bag_of_embeddings`, the
`logger=best_metrics` logger and the `scheduler=noam` schedule; YAML presets under `conf/`
become options too (`model=bag_of_embeddings_big`, `experiment=example_bag`). Tests: tests/.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from framework import CLASSIFICATION, MODELS, ComponentConfig, PlaitError, TaskSpec

PLAIT_API = 1  # the Plait plugin API major this package targets


@dataclass
class BagOfEmbeddingsConfig(ComponentConfig):
    """Options of the bag-of-embeddings classifier."""

    d_model: int = 64  # embedding width
    dropout: float = 0.1  # dropout before the classifier

    @classmethod
    def tiny(cls, kind: str | None) -> dict | None:
        """Tiny options for the contract tests (framework.testing.ModelContract): classification only."""
        return {"d_model": 8} if kind in (None, CLASSIFICATION) else None


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


@MODELS.register("bag_of_embeddings", config=BagOfEmbeddingsConfig)
def build_bag_of_embeddings(cfg: BagOfEmbeddingsConfig, *, spec: TaskSpec) -> BagOfEmbeddings:
    """fastText-style classifier from the plait-example package."""
    if spec.kind != CLASSIFICATION:
        raise PlaitError(f"bag_of_embeddings only classifies; task kind is '{spec.kind}'")
    return BagOfEmbeddings(cfg, spec.vocab_size, spec.n_classes or 2, spec.pad_id)


from plait_example import best_metrics, noam  # noqa: E402,F401  (register their components)
