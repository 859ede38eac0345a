"""What the two forms of `task=question_answering` share: the format choice, the one config schema, and the
base class that turns a form's data and scores into the Task interface (tokenizer, TaskSpec, lazily featurised
splits, bucketed batches, loss sums into metrics, input checks for `plait answer`).

A form (plugins.tasks.babi_task, plugins.tasks.squad_task) says how to read and featurise its data, how one batch
looks, what its loss and predictions are and how predictions become metrics.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from framework import (
    QUESTION_ANSWERING,
    Batch,
    PlaitError,
    Task,
    TaskSpec,
    Tokenizer,
    TokenizerFactory,
    budget_batches,
    describe_files,
    extra_val_split,
    model_device,
)
from plugins.tasks.batching import bucketed_batches
from plugins.tasks.configs import QAFormat, QuestionAnsweringConfig
from plugins.tasks.limits import first, limited_count

Data = TypeVar("Data")  # one split of a form, featurised: what its batches are cut from
Texts = Callable[[], Iterable[str]]  # the tokenizer's training text, produced only when it is trained


def _never() -> Iterable[str]:
    raise PlaitError("the saved tokenizer of this run is missing; inference cannot retrain it")


class QuestionAnsweringTask(Task, Generic[Data]):
    """The Task interface of both QA forms; a subclass supplies its data, batches, loss and metrics."""

    throughput_unit = "samples"
    format: QAFormat  # the task.format this form serves

    def __init__(self, cfg: QuestionAnsweringConfig) -> None:
        if cfg.format != self.format:
            raise PlaitError(f"{type(self).__name__} serves task.format={self.format}, not {cfg.format}")
        self.cfg = cfg
        self.answers: list[str] = []
        self._raw: dict[str, Any] = {}  # split -> the form's data as read, not yet featurised
        self._data: dict[str, Data] = {}  # split -> featurised data
        self._details: dict[str, Any] = {}

    # -- setup and restore ---------------------------------------------------------------------------

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read the training data, train (or reload) the tokenizer, describe the task."""
        texts = self._read_training()
        self._set_tokenizer(tokenizer_factory("text", texts))
        return self._spec()

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """Rebuild for inference from the saved spec and tokenizer; reads no training data."""
        fmt = spec.extra.get("format", self.format.value)
        if fmt != self.format:
            raise PlaitError(f"the run was trained with task.format={fmt}; do not override it")
        self.answers = list(spec.labels)
        self._set_tokenizer(tokenizer_factory("text", _never))

    def _set_tokenizer(self, tokenizer: Tokenizer) -> None:
        self.tokenizer: Any = tokenizer
        self.pad_id = tokenizer.pad_id

    def _spec(self) -> TaskSpec:
        n_classes, max_length, extra = self._spec_parts()
        return TaskSpec(
            kind=QUESTION_ANSWERING,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.pad_id,
            n_classes=n_classes,
            max_length=max_length,
            vocab=self.tokenizer.vocabulary(),
            labels=list(self.answers),
            extra={"format": self.format.value, **extra},
        )

    # -- splits, featurised on first use ---------------------------------------------------------------

    def _split(self, split: str) -> Data:
        if split not in self._data:
            if split == "test" and "test" not in self._raw:
                test = self._read_test()
                if test is not None:
                    self._raw["test"] = test
            extra = {extra_val_split(name): path for name, path in self.cfg.extra_val_paths.items()}
            if split in extra and split not in self._raw:
                self._raw[split] = self._read_extra(extra[split], f"task.extra_val_paths.{split.split('/', 1)[1]}")
            if split not in self._raw:
                raise PlaitError(f"split '{split}' has no data; splits: {', '.join(self.splits())}")
            self._data[split] = self._featurise(self._raw.pop(split))
        return self._data[split]

    def num_examples(self, split: str) -> int | None:
        """Items (questions, or context windows for squad) in `split`."""
        return limited_count(len(self._lengths(self._split(split))), self.cfg.limit(split))

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Shuffled by `epoch_seed` for train; a fixed order otherwise."""
        seed = epoch_seed if split == "train" else None
        data = self._split(split)
        lengths = first(self._lengths(data), self.cfg.limit(split))
        for idx in bucketed_batches(lengths, batch_size, seed=seed, pool_batches=1)[start:]:
            yield self._batch(data, idx)

    def token_batches(self, split: str, *, max_tokens: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """`trainer.max_tokens`: batches of at most `max_tokens` tokens by the form's lengths, padding counted."""
        seed = epoch_seed if split == "train" else None
        data = self._split(split)
        lengths = first(np.maximum(self._token_lengths(data), 1), self.cfg.limit(split))
        for idx in budget_batches(lengths, max_tokens, seed=seed)[start:]:
            yield self._batch(data, idx)

    # -- loss and evaluation -------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """The form's training loss, averaged over the batch."""
        return self._losses(model, batch, "mean")[0]

    def eval_step(self, model: nn.Module, batch: Batch) -> dict[str, Any]:
        """Loss sum of one batch and the form's predictions (with `n`, what the loss sum is over)."""
        loss, out = self._losses(model, batch, "sum")
        return {"loss": float(loss), **self._predictions(batch, out)}

    def reduce(self, partials: list[dict[str, Any]]) -> dict[str, float]:
        """Mean loss and the form's metrics over all batches; keeps the form's details for `details()`."""
        n = sum(p["n"] for p in partials)
        loss = sum(p["loss"] for p in partials) / max(n, 1)
        metrics, self._details = self._scores(partials)
        return {"loss": loss, **metrics}

    def details(self) -> dict[str, Any]:
        """What the last reduce found beyond its metrics (a summary table, samples, ...)."""
        return dict(self._details)

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files setup read (path, bytes, sha256)."""
        return {split: describe_files(paths) for split, paths in self._source_files().items()}

    # -- inference -----------------------------------------------------------------------------------

    def answer(self, model: nn.Module, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """For each {"context", "question"}: the form's answer (see `_answer`)."""
        for i, item in enumerate(items):
            if not str(item.get("context", "")).strip() or not str(item.get("question", "")).strip():
                raise PlaitError(f"input {i + 1}: needs a non-empty 'context' and 'question'")
        return self._answer(model, items, model_device(model))

    def samples(self, model: nn.Module, split: str, n: int) -> list[dict[str, str]]:
        """`n` fixed questions of `split` (chosen by task.seed): question, reference answer and the model's answer."""
        items = self._sample_items(split, n)
        if not items:
            return []
        asked = [{"context": it["context"], "question": it["question"]} for it in items]
        answers = self._answer(model, asked, model_device(model))
        return [
            {"question": it["question"], "reference": it["reference"], "answer": str(a["answer"])}
            for it, a in zip(items, answers, strict=True)
        ]

    # -- what a form supplies ------------------------------------------------------------------------

    def _sample_items(self, split: str, n: int) -> list[dict[str, str]]:
        """`n` fixed items of `split` as {"context", "question", "reference"} (Task.samples); none by default."""
        return []

    @abstractmethod
    def _read_training(self) -> Texts:
        """Read train and val into `self._raw` (and the answer vocabulary); the tokenizer's training text."""

    @abstractmethod
    def _source_files(self) -> dict[str, list[Path]]:
        """Split -> the files it is read from (for the run's record of what it trained on)."""

    @abstractmethod
    def _read_test(self) -> Any | None:
        """The test split as read, or None when this form / config has none."""

    @abstractmethod
    def _read_extra(self, path: str, key: str) -> Any:
        """An extra validation set as read from `path` (named by the config key `key` in errors)."""

    def _extra_splits(self) -> list[str]:
        """The extra validation sets of task.extra_val_paths, as splits (`val/<name>`)."""
        return [extra_val_split(name) for name in self.cfg.extra_val_paths]

    @abstractmethod
    def _spec_parts(self) -> tuple[int | None, int, dict[str, Any]]:
        """(n_classes, max_length, spec.extra entries besides `format`) of the TaskSpec."""

    @abstractmethod
    def _featurise(self, raw: Any) -> Data:
        """Token ids of one split as read."""

    @abstractmethod
    def _lengths(self, data: Data) -> np.ndarray:
        """The length of each item of `data`, for bucketing."""

    def _token_lengths(self, data: Data) -> np.ndarray:
        """The padded length in tokens of each item of `data` (what trainer.max_tokens counts); default `_lengths`."""
        return self._lengths(data)

    @abstractmethod
    def _batch(self, data: Data, idx: np.ndarray) -> Batch:
        """The batch of items `idx` of `data`."""

    @abstractmethod
    def _losses(self, model: nn.Module, batch: Batch, reduction: str) -> tuple[Tensor, Any]:
        """(loss, model outputs) with `reduction` ("mean" or "sum")."""

    @abstractmethod
    def _predictions(self, batch: Batch, out: Any) -> dict[str, Any]:
        """Partial results of one evaluation batch besides the loss: `n` and what `_scores` needs."""

    @abstractmethod
    def _scores(self, partials: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics besides the loss, details) of every batch's partials."""

    @abstractmethod
    def _answer(self, model: nn.Module, items: list[dict[str, Any]], device: torch.device) -> list[dict[str, Any]]:
        """Answers to checked {"context", "question"} items, the model on `device`."""
