"""Which task kinds a model supports, checked when it is built."""

from __future__ import annotations

from typing import Protocol, cast

import torch
from torch import Tensor, nn

from framework import PlaitError, TaskSpec


def check_kind(model: str, spec: TaskSpec, kinds: tuple[str, ...]) -> None:
    """Raise a PlaitError naming the supported task kinds when `spec.kind` is not one of them."""
    if spec.kind not in kinds:
        raise PlaitError(
            f"model={model} supports task kinds {', '.join(kinds)} but the task is '{spec.kind}'; "
            "pick a model for that task (see `plait list model`)"
        )


# -- question answering: heads for encoders that expose token features (plugins.tasks.question_answering) --


def flatten_story(
    story: Tensor, question: Tensor, pad_id: int, *, cls_id: int | None = None, sep_id: int | None = None
) -> tuple[Tensor, Tensor]:
    """One right-padded sequence per row from a story (B, N, L) and a question (B, Q): the story's real tokens
    in order, then the question's -> (ids (B, T), mask (B, T) bool). How a flat encoder reads the story form.
    With `cls_id` / `sep_id` the row is laid out as BERT reads a pair: [cls] story [sep] question [sep]."""
    rows = question.shape[0]
    cls = [question.new_full((rows, 1), cls_id)] if cls_id is not None else []
    sep = [question.new_full((rows, 1), sep_id)] if sep_id is not None else []
    ids = torch.cat([*cls, story.flatten(1), *sep, question, *sep], dim=1)
    keep = ids != pad_id
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices  # real tokens first, in order
    ids, keep = ids.gather(1, order), keep.gather(1, order)
    width = max(1, int(keep.sum(1).max()))
    return ids[:, :width], keep[:, :width]


class TokenFeatures(Protocol):
    """The encoder EncoderQA wraps (RNNClassifier, TransformerEncoderClassifier): token and pooled features, a head."""

    head: nn.Module

    def features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]: ...


class EncoderQA(nn.Module):
    """QA heads on an encoder with `features(ids, mask) -> (tokens (B, T, D), pooled (B, D))` and `head`.

    babi form: the story is flattened, pooled -> encoder.head (Linear(D, n_answers)) -> answer logits.
    squad form: every token -> encoder.head (Linear(D, 2)) -> start and end logits (B, T) each.
    """

    def __init__(self, encoder: nn.Module, spec: TaskSpec) -> None:
        super().__init__()
        self.encoder = encoder
        self.span = spec.extra.get("format") == "squad"
        self.pad_id = spec.pad_id

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """(story, question) -> (B, n_answers); (input_ids, attention_mask) -> (start, end) (B, T) each."""
        encoder = cast(TokenFeatures, self.encoder)
        if self.span:
            tokens, _ = encoder.features(inputs[0], inputs[1])
            spans: Tensor = encoder.head(tokens)  # (B, T, 2)
            start, end = spans.unbind(-1)
            return start, end
        ids, keep = flatten_story(inputs[0], inputs[1], self.pad_id)
        _, pooled = encoder.features(ids, keep)
        logits: Tensor = encoder.head(pooled)
        return logits


def qa_outputs(spec: TaskSpec) -> int:
    """Width of an encoder's head for a question-answering spec: 2 (start, end) or the number of answers."""
    return 2 if spec.extra.get("format") == "squad" else int(spec.n_classes or 2)
