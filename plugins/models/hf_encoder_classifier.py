"""Hugging Face encoder (BERT shape from scratch, or any local checkpoint) with the head its task kind needs.

classification: `...ForSequenceClassification` over `[cls] text`.
question answering, babi form: `...ForSequenceClassification` with one label per answer, over the story and
    question laid out as a BERT pair, `[cls] story [sep] question [sep]`.
question answering, squad form: `...ForQuestionAnswering` (start/end logits per token) over the task's windows,
    which already are `[cls] question [sep] context [sep]`; so `plait export` writes a model that
    `AutoModelForQuestionAnswering` loads and that reads inputs the way BERT's question answering does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from framework import CLASSIFICATION, QUESTION_ANSWERING, PlaitError, TaskSpec
from plugins.models.configs import HFEncoderClassifierConfig
from plugins.models.hf_common import HFModel, build_or_load, positions
from plugins.models.kinds import check_kind, flatten_story

SPECIALS = 3  # [cls] and two [sep] around a flattened story and its question


def segment_ids(input_ids: Tensor, sep_id: int | None) -> Tensor | None:
    """BERT's token_type_ids for a pair: 0 up to and including the first [sep], 1 after it; None without sep_id."""
    if sep_id is None:
        return None
    is_sep = (input_ids == sep_id).long()
    return ((is_sep.cumsum(1) - is_sep) > 0).long()


class HFEncoder(HFModel):
    """A wrapped BERT-like model; `encode` calls it with plait's bool masks, segments where the model has them,
    after checking that the inputs fit its position table."""

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None = None) -> Any:
        """The transformers model's output for these inputs (attention_mask True on real tokens)."""
        table = getattr(self.hf.config, "max_position_embeddings", None)
        if table is not None and input_ids.shape[1] > table:
            raise PlaitError(
                f"model=hf_encoder_classifier got {input_ids.shape[1]} tokens but its position table holds {table}; "
                "raise model.max_length (from scratch) or shorten the task's inputs (task.max_length, memory_size)"
            )
        inputs = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask.long()
        if token_type_ids is not None and getattr(self.hf.config, "type_vocab_size", 0) >= 2:  # BERT: 2; RoBERTa: 1
            inputs["token_type_ids"] = token_type_ids
        return self.hf(**inputs)


class HFEncoderClassifier(HFEncoder):
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
        logits: Tensor = self.encode(input_ids, attention_mask).logits
        return logits


class HFStoryQA(HFEncoder):
    """babi form: forward(story (B, N, L), question (B, Q)) -> answer logits (B, n_answers).

    The story's and question's real tokens become one pair, `[cls] story [sep] question [sep]` (segments 0 and
    1), and the sequence-classification head scores every answer from the pooled `[cls]`.
    """

    def __init__(self, hf: Any, spec: TaskSpec) -> None:
        super().__init__(hf)
        self.pad_id = spec.pad_id
        self.cls_id, self.sep_id = spec.extra.get("cls_id"), spec.extra.get("sep_id")

    def forward(self, story: Tensor, question: Tensor) -> Tensor:
        ids, keep = flatten_story(story, question, self.pad_id, cls_id=self.cls_id, sep_id=self.sep_id)
        logits: Tensor = self.encode(ids, keep, segment_ids(ids, self.sep_id)).logits
        return logits


class HFSpanQA(HFEncoder):
    """squad form: forward(input_ids (B, T), attention_mask (B, T) bool) -> (start, end) logits (B, T) each.

    The task's windows already start with `[cls]`, so nothing is prepended and the logits align with the input
    positions; segments are 0 for `[cls] question [sep]` and 1 for `context [sep]`, as BERT was trained.
    """

    def __init__(self, hf: Any, sep_id: int | None) -> None:
        super().__init__(hf)
        self.sep_id = sep_id

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out = self.encode(input_ids, attention_mask, segment_ids(input_ids, self.sep_id))
        return out.start_logits, out.end_logits


def bert_config(cfg: HFEncoderClassifierConfig, spec: TaskSpec, n_labels: int, n_positions: int) -> Any:
    """A transformers BertConfig with plait's size fields, `n_labels` outputs and answer/class names when known."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=spec.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.d_ff,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        max_position_embeddings=n_positions,
        pad_token_id=spec.pad_id,
        **label_options(spec, n_labels),
    )


def label_options(spec: TaskSpec, n_labels: int) -> dict[str, Any]:
    """`num_labels`, plus `id2label`/`label2id` from spec.labels when they name every output (exported configs)."""
    if len(spec.labels) != n_labels:
        return {"num_labels": n_labels}
    return {"id2label": dict(enumerate(spec.labels)), "label2id": {name: i for i, name in enumerate(spec.labels)}}


def build_bert(cfg: HFEncoderClassifierConfig, spec: TaskSpec, head: str, n_labels: int, n_positions: int) -> Any:
    """Bert`head` from the size fields, or AutoModel`head` from `cfg.pretrained` with a fresh head of `n_labels`."""
    return build_or_load(
        cfg,
        vocab_size=spec.vocab_size,
        auto_class=f"AutoModel{head}",
        model_class=f"Bert{head}",
        make_config=lambda: bert_config(cfg, spec, n_labels, n_positions),
        ignore_mismatched_sizes=True,  # a checkpoint with another head size gets a fresh head
        **label_options(spec, n_labels),
    )


def build_hf_encoder_classifier(cfg: HFEncoderClassifierConfig, *, spec: TaskSpec) -> HFEncoder:
    """Hugging Face encoder (BERT from our sizes, or a local pretrained directory): classification or QA heads."""
    check_kind("hf_encoder_classifier", spec, (CLASSIFICATION, QUESTION_ANSWERING))
    if spec.kind == CLASSIFICATION:
        n_positions = positions(cfg, spec) + 1  # + the classifier token
        hf = build_bert(cfg, spec, "ForSequenceClassification", spec.n_classes or 2, n_positions)
        return HFEncoderClassifier(hf, spec.extra.get("cls_id"))
    if spec.extra.get("format") == "squad":  # the windows hold [cls] and [sep] already
        hf = build_bert(cfg, spec, "ForQuestionAnswering", 2, positions(cfg, spec))
        return HFSpanQA(hf, spec.extra.get("sep_id"))
    story = spec.max_length + int(spec.extra.get("max_question_length", 0)) + SPECIALS
    hf = build_bert(cfg, spec, "ForSequenceClassification", int(spec.n_classes or 2), cfg.max_length or story)
    return HFStoryQA(hf, spec)
