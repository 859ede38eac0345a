"""Hugging Face encoder classifier (BERT shape from scratch, or any local sequence-classification checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from framework.registry import MODELS
from framework.task import CLASSIFICATION, TaskSpec
from plugins.models.hf_common import HFModel, HFModelConfig, build_or_load, positions
from plugins.models.kinds import check_kind


@dataclass
class HFEncoderClassifierConfig(HFModelConfig):
    """A BERT-shaped encoder built from the size fields, or `pretrained` loaded with a fresh n_classes head."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict | None:
        """Tiny options for the contract tests: classification only."""
        if kind not in (None, CLASSIFICATION):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


class HFEncoderClassifier(HFModel):
    """forward(input_ids (B, T) long, attention_mask (B, T) bool) -> logits (B, n_classes).

    BERT pools the first token, so the tokenizer's classifier token (`spec.extra["cls_id"]`, the `[CLS]` of a
    pretrained tokenizer) is put in front of every sequence, as the tokenizer would for BERT.
    """

    def __init__(self, hf: Any, cls_id: int | None) -> None:
        super().__init__(hf)
        self.cls_id = cls_id

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if self.cls_id is not None:  # (B, T) -> (B, 1 + T)
            input_ids = torch.cat([input_ids.new_full((input_ids.shape[0], 1), self.cls_id), input_ids], dim=1)
            if attention_mask is not None:
                attention_mask = torch.cat([attention_mask.new_ones(attention_mask.shape[0], 1), attention_mask], 1)
        mask = attention_mask.long() if attention_mask is not None else None
        return self.hf(input_ids=input_ids, attention_mask=mask).logits


def bert_config(cfg: HFEncoderClassifierConfig, spec: TaskSpec, n_classes: int) -> Any:
    """A transformers BertConfig with plait's size fields."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=spec.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.d_ff,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=positions(cfg, spec) + 1,  # + the classifier token
        pad_token_id=spec.pad_id,
        num_labels=n_classes,
    )


@MODELS.register("hf_encoder_classifier", config=HFEncoderClassifierConfig)
def build_hf_encoder_classifier(cfg: HFEncoderClassifierConfig, *, spec: TaskSpec) -> HFEncoderClassifier:
    """Hugging Face encoder classifier: BERT architecture from our sizes, or a local pretrained directory."""
    check_kind("hf_encoder_classifier", spec, (CLASSIFICATION,))
    n_classes = spec.n_classes or 2
    hf = build_or_load(
        cfg,
        vocab_size=spec.vocab_size,
        auto_class="AutoModelForSequenceClassification",
        model_class="BertForSequenceClassification",
        make_config=lambda: bert_config(cfg, spec, n_classes),
        num_labels=n_classes,
        ignore_mismatched_sizes=True,  # a checkpoint with another head size gets a fresh head
    )
    return HFEncoderClassifier(hf, spec.extra.get("cls_id"))
