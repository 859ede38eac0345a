"""What the finders (`plait tune lr`, `plait tune batch-size`) share: the run's components built through the one
build path into a temporary directory (nothing is written into a run), optimizer steps taken as the trainer takes
them (the run's precision strategy: autocast, backward, step), and a snapshot that puts the weights, the
optimizer and the precision strategy's state back afterwards.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import DictConfig, open_dict
from torch import nn

from framework.engine.batching import epoch_batches
from framework.engine.build import Built, as_dictconfig, build
from framework.engine.config import TrainConfig
from framework.errors import PlaitError
from framework.precision import PrecisionStrategy
from framework.task import Batch, Task


@contextmanager
def tuning_build(config: TrainConfig | DictConfig | dict[str, Any]) -> Iterator[Built]:
    """The components `plait train` with `config` would build, in a temporary run directory that is deleted
    afterwards; no loggers (no W&B run, no metrics file) and no callbacks. With `trainer.resume=<checkpoint>` the
    model, optimizer and precision start from that checkpoint, which is only read."""
    cfg = copy.deepcopy(as_dictconfig(config))
    with open_dict(cfg):
        cfg.logger, cfg.callback = {}, {}
        if cfg.trainer.resume == "auto":  # `auto` means this run's own checkpoints: a temporary run has none
            cfg.trainer.resume = None
    with tempfile.TemporaryDirectory(prefix="plait-tune-") as tmp:
        built = build(cfg, tmp)
        if built.state is not None:
            built.model.load_state_dict(built.state["model"])
            built.precision.load_state_dict(built.state["precision"])
            assert built.optimizer is not None
            built.optimizer.load_state_dict(built.state["optimizer"])
        yield built


@dataclass
class Stepper:
    """Optimizer steps on the training split as `Trainer.fit` takes them: `accum` micro-batches of `batch_size`
    under the precision's autocast, its backward, its step (with `clip`); no scheduler, no logging."""

    model: nn.Module
    task: Task
    precision: PrecisionStrategy
    optimizer: torch.optim.Optimizer
    device: torch.device
    batch_size: int
    seed: int = 0
    clip: float | None = None
    accum: int = 1
    max_tokens: int | None = None  # trainer.max_tokens: batches by a token budget instead of batch_size

    @classmethod
    def of(cls, built: Built, batch_size: int | None = None) -> Stepper:
        """A stepper over built components with the run's trainer settings (`batch_size` replacing its own)."""
        t = built.cfg.trainer
        assert built.optimizer is not None, "built for inference"
        return cls(
            built.model,
            built.task,
            built.precision,
            built.optimizer,
            built.device,
            batch_size or int(t.batch_size),
            int(t.seed),
            t.clip_grad_norm,
            int(t.grad_accum_steps),
            t.get("max_tokens"),
        )

    def batches(self) -> Iterator[Batch]:
        """Endless training batches, epoch after epoch, as the trainer orders them (framework.engine.batching)."""
        epoch, trainer = 0, SimpleNamespace(seed=self.seed, batch_size=self.batch_size, max_tokens=self.max_tokens)
        while True:
            produced = 0
            for batch in epoch_batches(self.task, trainer, epoch=epoch, start=0, rank=0, world=1):
                produced += 1
                yield batch
            if produced == 0:
                raise PlaitError("the training split produced no batch; check the task's training data")
            epoch += 1

    def step(self, batches: Iterator[Batch]) -> tuple[torch.Tensor, Batch, bool]:
        """One optimizer step: (the summed loss of its micro-batches, detached; the last batch; whether the
        strategy applied it — False when a loss-scaling strategy skipped it for overflow)."""
        self.model.train()
        total: torch.Tensor | None = None
        for _ in range(self.accum):
            batch = next(batches).to(self.device)
            with self.precision.autocast():
                loss = self.task.loss(self.model, batch)
            self.precision.backward(loss / self.accum if self.accum > 1 else loss)
            total = loss.detach().float() if total is None else total + loss.detach().float()
        assert total is not None
        stepped = self.precision.step(self.optimizer, self.clip)
        return total, batch, stepped


@dataclass
class Snapshot:
    """The weights, optimizer state, precision state (master weights, loss scale) and random states at a moment."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    precision: dict[str, Any]
    rng: torch.Tensor
    cuda_rng: list[torch.Tensor]


def take_snapshot(model: nn.Module, optimizer: torch.optim.Optimizer, precision: PrecisionStrategy) -> Snapshot:
    """Copies (not references) of everything a few training steps change."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return Snapshot(
        {k: v.detach().clone() for k, v in model.state_dict().items()},
        copy.deepcopy(optimizer.state_dict()),
        copy.deepcopy(precision.state_dict()),
        torch.get_rng_state(),
        cuda,
    )


def restore_snapshot(
    snapshot: Snapshot, model: nn.Module, optimizer: torch.optim.Optimizer, precision: PrecisionStrategy
) -> None:
    """Put back what `take_snapshot` copied; the gradients are dropped."""
    model.load_state_dict(snapshot.model)
    precision.load_state_dict(copy.deepcopy(snapshot.precision))
    optimizer.load_state_dict(copy.deepcopy(snapshot.optimizer))
    optimizer.zero_grad(set_to_none=True)
    model.zero_grad(set_to_none=True)
    torch.set_rng_state(snapshot.rng)
    if snapshot.cuda_rng:
        torch.cuda.set_rng_state_all(snapshot.cuda_rng)


@contextmanager
def restored(stepper: Stepper) -> Iterator[None]:
    """Run the block, then restore the stepper's model, optimizer and precision state as they were (also when
    the block fails or is interrupted)."""
    snapshot = take_snapshot(stepper.model, stepper.optimizer, stepper.precision)
    try:
        yield
    finally:
        restore_snapshot(snapshot, stepper.model, stepper.optimizer, stepper.precision)
