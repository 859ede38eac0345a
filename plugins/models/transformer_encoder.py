"""BERT-like Transformer encoder for sequence classification."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from framework import CLASSIFICATION, QUESTION_ANSWERING, PlaitError, TaskSpec
from plugins.models.configs import TransformerEncoderConfig
from plugins.models.kinds import EncoderQA, check_kind, qa_outputs
from plugins.models.pooling import masked_pool
from plugins.models.transformer_blocks import TransformerStack, input_embedding


class TransformerEncoderClassifier(nn.Module):
    """Embeddings + positions -> pre-norm encoder blocks -> final norm -> pooled -> linear head.

    forward(input_ids (B, T) long, attention_mask (B, T) bool) -> logits (B, n_classes)
    """

    def __init__(self, cfg: TransformerEncoderConfig, spec: TaskSpec, n_classes: int) -> None:
        super().__init__()
        if cfg.pooling not in ("cls", "mean"):
            raise PlaitError(f"model.pooling='{cfg.pooling}' is not known; choose cls or mean")
        self.cfg = cfg
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if cfg.pooling == "cls" else None
        extra = 1 if self.cls is not None else 0  # the [CLS] slot takes one position
        self.encoder = TransformerStack(cfg, cfg.n_layers, input_embedding(cfg, spec), extra_positions=extra)
        self.head = nn.Linear(cfg.d_model, n_classes)

    def features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """input_ids (B, T), attention_mask (B, T) bool -> (token states (B, T, D), pooled (B, D))."""
        keep = attention_mask.bool() if attention_mask is not None else None  # None: no padding, no mask
        x = self.encoder.embed(input_ids)  # (B, T, D)
        if self.cls is not None:  # prepend [CLS]: (B, 1 + T, D)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
            keep = torch.cat([keep.new_ones(keep.shape[0], 1), keep], dim=1) if keep is not None else None
        x, _ = self.encoder(x, keep)  # (B, T', D)
        if self.cls is not None:
            return x[:, 1:], x[:, 0]
        if keep is None:
            return x, x.mean(1)
        return x, masked_pool(x, keep, "mean")

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T), attention_mask (B, T) bool -> logits (B, n_classes)."""
        logits: Tensor = self.head(self.features(input_ids, attention_mask)[1])
        return logits


def build_transformer_encoder(cfg: TransformerEncoderConfig, *, spec: TaskSpec) -> nn.Module:
    """BERT-like encoder classifier (or QA answer / span heads): pre-norm blocks on SDPA, CLS or mean pooling."""
    check_kind("transformer_encoder", spec, (CLASSIFICATION, QUESTION_ANSWERING))
    if spec.kind == QUESTION_ANSWERING:
        return EncoderQA(TransformerEncoderClassifier(cfg, spec, qa_outputs(spec)), spec)
    return TransformerEncoderClassifier(cfg, spec, spec.n_classes or 2)
