"""The task interface: a task owns its data, its loss and its metrics, but not the model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from framework.tokenizer import Tokenizer

# role ("text", "source", "target") and a thunk giving training text -> a trained or reloaded tokenizer
TokenizerFactory = Callable[[str, Callable[[], Iterable[str]]], Tokenizer]

# Task kinds, and the forward contract a model for each kind follows (shapes: B batch, T/S lengths):
#   classification:     model(input_ids (B,T) long, attention_mask (B,T) bool) -> logits (B, n_classes)
#   language_modeling:  model(input_ids (B,T) long, attention_mask (B,T) bool | None) -> logits (B, T, vocab)
#                       optional: model.forward_cached(input_ids, cache) -> (logits, cache) for fast decoding
#   seq2seq:            model(src_ids (B,S), src_mask (B,S) bool, tgt_in (B,T)) -> logits (B, T, target vocab)
#                       and model.encode(src_ids, src_mask) -> memory,
#                           model.decode(tgt_in, memory, src_mask) -> logits (B, T, target vocab)
CLASSIFICATION = "classification"
LANGUAGE_MODELING = "language_modeling"
SEQ2SEQ = "seq2seq"


@dataclass
class TaskSpec:
    """What a model needs to know about its task to be built."""

    kind: str  # CLASSIFICATION | LANGUAGE_MODELING | SEQ2SEQ
    vocab_size: int
    pad_id: int = 0
    n_classes: int | None = None
    max_length: int = 512
    target_vocab_size: int | None = None  # seq2seq with separate tokenizers
    vocab: list[str] = field(default_factory=list)  # input tokens in id order (for pretrained embeddings)
    extra: dict[str, int] = field(default_factory=dict)  # bos_id, eos_id, ...


@dataclass
class Batch:
    """Tensors of one batch plus its size, counted on the host so throughput needs no device sync."""

    tensors: dict[str, Tensor]
    n_samples: int
    n_tokens: int

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on `device` (non-blocking copies)."""
        moved = {k: v.to(device, non_blocking=True) for k, v in self.tensors.items()}
        return Batch(moved, self.n_samples, self.n_tokens)

    def __getitem__(self, key: str) -> Tensor:
        return self.tensors[key]


class Task(ABC):
    """Data, loss and metrics of one learning problem."""

    #: "tokens" or "samples": the unit that throughput is reported in
    throughput_unit: str = "tokens"

    @abstractmethod
    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Load data, obtain tokenizers through `tokenizer_factory`, and describe the task."""

    @abstractmethod
    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Batches of one pass over `split`, shuffled by `epoch_seed`, skipping the first `start` batches."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Scalar training loss of `model` on `batch` (called inside the precision's autocast)."""

    @abstractmethod
    def evaluate(
        self,
        model: nn.Module,
        split: str,
        *,
        batch_size: int,
        device: torch.device,
        autocast: Callable[[], ContextManager],
    ) -> dict[str, float]:
        """Metrics of `model` on `split`, keyed without prefix (`loss`, `accuracy`, ...)."""

    def splits(self) -> list[str]:
        """Splits this task has data for."""
        return ["train", "val"]

    def details(self) -> dict[str, Any]:
        """JSON-ready results of the last `evaluate` beyond its scalars (confusion matrix, samples, ...).

        A `summary` string, when present, is what `plait eval` prints for people.
        """
        return {}
