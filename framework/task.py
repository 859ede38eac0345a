"""The task interface: a task owns its data, its loss and its metrics, but not the model nor the loop.

Training calls `setup()` (reads the training data, trains tokenizers, returns the TaskSpec that is saved
with the run); inference calls `restore()` with that saved spec and the saved tokenizers instead, so a run
reopens without its training data. Evaluation is the core's loop (framework.engine.evaluation): the task gives
one batch's partial results (`eval_step`) and turns all of them into metrics (`reduce`).
"""

from __future__ import annotations

import dataclasses
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from framework.task_kinds import CLASSIFICATION as CLASSIFICATION  # re-exported: the kinds were defined here
from framework.task_kinds import LANGUAGE_MODELING as LANGUAGE_MODELING
from framework.task_kinds import QUESTION_ANSWERING as QUESTION_ANSWERING
from framework.task_kinds import SEQ2SEQ as SEQ2SEQ
from framework.task_kinds import VAL as VAL  # the split names: there too
from framework.task_kinds import check_val_set_names as check_val_set_names
from framework.task_kinds import extra_val_split as extra_val_split
from framework.task_kinds import extra_val_splits as extra_val_splits
from framework.tokenizer import Tokenizer


class TokenizerFactory(Protocol):
    """Role ("text", "source", "target") and a thunk giving training text -> a trained or reloaded tokenizer.

    `reuse`: a directory kept for tokenizers trained on exactly these texts (its name a key of the data); the
    factory loads one trained there with the same options instead of training, and leaves what it trains there."""

    def __call__(self, role: str, texts: Callable[[], Iterable[str]], *, reuse: Path | None = None) -> Tokenizer: ...


# The task kinds and the forward contract of a model for each: framework/task_kinds.py (no torch there, so that
# config schemas can name the kinds).

Partials = dict[str, Any]  # one batch's evaluation results: tensors, numbers, lists; in `reduce` a one-number
# tensor arrives as a Python number (framework.engine.evaluation.to_host), others as CPU tensors


@dataclass
class TaskSpec:
    """What a model needs to know about its task, and what inference needs to reopen it (saved with the run)."""

    kind: str  # CLASSIFICATION | LANGUAGE_MODELING | SEQ2SEQ | a plugin's kind
    vocab_size: int
    pad_id: int = 0
    n_classes: int | None = None
    max_length: int = 512
    target_vocab_size: int | None = None  # seq2seq with separate tokenizers
    vocab: list[str] = field(default_factory=list)  # input tokens in id order (for pretrained embeddings)
    labels: list[str] = field(default_factory=list)  # class / answer names in id order
    extra: dict[str, Any] = field(default_factory=dict)  # bos_id, eos_id, ...

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the checkpoint (loads with `weights_only=True`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """The spec saved by `to_dict`."""
        return cls(**data)


@dataclass
class Batch:
    """Tensors of one batch plus its size, counted on the host so throughput needs no device sync."""

    tensors: dict[str, Tensor]
    n_samples: int
    n_tokens: int

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on `device` (non-blocking copies; no copy at all when already there)."""
        device = torch.device(device)
        if all(t.device == device for t in self.tensors.values()):
            return self
        moved = {k: v.to(device, non_blocking=True) for k, v in self.tensors.items()}
        return Batch(moved, self.n_samples, self.n_tokens)

    def __getitem__(self, key: str) -> Tensor:
        return self.tensors[key]


def model_device(model: nn.Module) -> torch.device:
    """The device a model's parameters live on (CPU for a model without parameters)."""
    for param in model.parameters():
        return param.device
    return torch.device("cpu")


def rank_rounds(batches: Iterable[Batch], rank: int, world: int) -> Iterator[Batch]:
    """Process `rank` of `world`'s share of `batches`: of each round of `world` consecutive batches the `rank`-th,
    an incomplete last round dropped (every process takes the same number of steps)."""
    round_: list[Batch] = []
    for batch in batches:
        round_.append(batch)
        if len(round_) == world:
            yield round_[rank]
            round_ = []


class Task(ABC):
    """Data, loss and metrics of one learning problem."""

    #: "tokens" or "samples": the unit that throughput is reported in
    throughput_unit: str = "tokens"

    @abstractmethod
    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Training: read the training data, obtain tokenizers through `tokenizer_factory`, describe the task."""

    @abstractmethod
    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """Inference: rebuild from the run's saved `spec` and tokenizers, without reading training data."""

    @abstractmethod
    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Batches of one pass over `split`, shuffled by `epoch_seed`, skipping the first `start` batches."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Scalar training loss of `model` on `batch` (called inside the precision's autocast)."""

    @abstractmethod
    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        """Partial results of one evaluation batch (called under no_grad and autocast, batch on the device)."""

    @abstractmethod
    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        """Metrics from every batch's partials (of every process), keyed without prefix (`loss`, ...)."""

    def rank_batches(
        self, split: str, *, batch_size: int, epoch_seed: int, start: int, rank: int, world: int
    ) -> Iterator[Batch]:
        """Process `rank` of `world`'s batches of one pass: of each round of `world` consecutive batches the
        `rank`-th, an incomplete last round dropped, from batch `start` (a multiple of `world`) on.

        This one makes every batch and keeps its own; a task that can make only its own overrides it, with the
        same result, so that no process reads the others' data."""
        return rank_rounds(self.batches(split, batch_size=batch_size, epoch_seed=epoch_seed, start=start), rank, world)

    def eval_batches(self, split: str, *, batch_size: int) -> Iterator[Batch]:
        """Batches that evaluation walks: one unshuffled pass over `split`."""
        return self.batches(split, batch_size=batch_size, epoch_seed=0)

    def eval_rank_batches(self, split: str, *, batch_size: int, rank: int, world: int) -> Iterator[Batch]:
        """Process `rank` of `world`'s share of `eval_batches`: batch i where i % world == rank (none dropped).

        This one makes every batch and keeps its own; a task that can make only its own overrides it, with the
        same result, so that no process reads the others' data."""
        return itertools.islice(self.eval_batches(split, batch_size=batch_size), rank, None, world)

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files `setup` read ({path, bytes, sha256} each), saved in the run as data_files.json."""
        return {}

    def prepared(self) -> list[dict[str, Any]]:
        """What `setup` prepared or found ready (one row per step: tokenizer, token stores …), for `plait prepare`."""
        return []

    def splits(self) -> list[str]:
        """Splits this task has data for."""
        return ["train", "val"]

    def metric_names(self) -> list[str] | None:
        """Names of the metrics `reduce` may return (no prefix), known from the config before `setup`.

        Lets a run refuse a monitor naming another metric before any work; None (the default): known only at the
        first evaluation, where such a monitor fails instead.
        """
        return None

    def num_examples(self, split: str) -> int | None:
        """How many examples `split` holds, in the unit `trainer.batch_size` counts (sentences, blocks, ...);
        None when the task cannot say cheaply. Called after `setup`; the core checks batch sizes against it."""
        return None

    def details(self) -> dict[str, Any]:
        """JSON-ready results of the last `reduce` beyond its scalars (confusion matrix, samples, ...).

        A `summary` string, when present, is what `plait eval` prints for people.
        """
        return {}

    def samples(self, model: nn.Module, split: str, n: int) -> list[dict[str, str]]:
        """Up to `n` examples of `split` with the model's outputs, as text columns (source, reference, output ...).

        The same examples at every call (a fixed, seeded choice), so evaluations compare; the core asks after each
        evaluation (under no_grad, autocast, eval mode; `trainer.eval_samples`) and hands them to the loggers.
        Default: none. Must not consume the global random streams (the run's randomness) or change the model.
        """
        return []


# Optional inference interfaces: a task kind declares the ones it supports by implementing them (no base class
# needed). `plait predict|translate|generate|answer` check `isinstance(task, <interface>)` (hence
# runtime_checkable) and call them under no_grad and the precision's autocast (framework.engine.inference);
# a task finds the device with `model_device(model)`.


@runtime_checkable
class TokenBatcher(Protocol):
    """`trainer.max_tokens`: a task of variable-length examples that can batch by a token budget (fairseq's
    `--max-tokens`). Without it, a run that sets trainer.max_tokens fails before any work."""

    def token_batches(self, split: str, *, max_tokens: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Batches of one pass over `split`, each at most `max_tokens` tokens with padding (length-bucketed, e.g.
        by `framework.budget_batches`), shuffled by `epoch_seed` for train, skipping the first `start`; the same
        seed, the same batches."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """`plait predict`: labels for raw texts."""

    def predict(self, model: nn.Module, texts: list[str], *, batch_size: int = 64) -> list[dict[str, Any]]:
        """For each text: at least `label` and `confidence`."""
        ...


@runtime_checkable
class Translator(Protocol):
    """`plait translate`: target sentences for raw source sentences."""

    def translate(
        self,
        model: nn.Module,
        texts: list[str],
        *,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[str]:
        """One translation per text (beam settings default to the task's config)."""
        ...


@runtime_checkable
class TextGenerator(Protocol):
    """`plait generate`: continuations of a prompt."""

    def generate(
        self,
        model: nn.Module,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        seed: int,
        beam_size: int = 1,
    ) -> str:
        """`prompt` and its sampled continuation, as text (`beam_size` > 1: the best beam; passed only then)."""
        ...


@runtime_checkable
class Answerer(Protocol):
    """`plait answer`: answers to questions about a context."""

    def answer(self, model: nn.Module, items: list[dict[str, str]]) -> list[dict[str, Any]]:
        """For each item (`context`, `question`): at least `answer`."""
        ...
