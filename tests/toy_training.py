"""A toy task, model and trainer for exercising precision strategies in tests (runs in well under a second).

Test support, not shipped: tests import it as `from toy_training import toy_trainer`.
`GradSpike` injects an inf gradient on chosen steps, to test overflow handling and NaN pinpointing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.callback import Callback, TrainState
from framework.engine.build import build
from framework.engine.trainer import Trainer
from framework.task import CLASSIFICATION, Batch, Partials, Task, TaskSpec, TokenizerFactory


class ToyTask(Task):
    """4-class classification of 16 random features by a fixed linear rule."""

    throughput_unit = "samples"

    def __init__(self, n_train: int = 192, n_val: int = 64, n_features: int = 16, n_classes: int = 4) -> None:
        g = torch.Generator().manual_seed(1234)
        rule = torch.randn(n_features, n_classes, generator=g)
        self.data: dict[str, tuple[Tensor, Tensor]] = {}
        for split, n in (("train", n_train), ("val", n_val)):
            x = torch.randn(n, n_features, generator=g)
            self.data[split] = (x, (x @ rule).argmax(-1))
        self.n_features, self.n_classes = n_features, n_classes

    def setup(self, tokenizer_factory: TokenizerFactory | None = None) -> TaskSpec:
        return TaskSpec(kind=CLASSIFICATION, vocab_size=self.n_features, n_classes=self.n_classes)

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        pass

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        x, y = self.data[split]
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch_seed))
        for b in range(start, (len(x) + batch_size - 1) // batch_size):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield Batch({"x": x[idx], "y": y[idx]}, n_samples=len(idx), n_tokens=len(idx))

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return F.cross_entropy(model(batch["x"]).float(), batch["y"])

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        logits = model(batch["x"]).float()
        return {
            "loss_sum": F.cross_entropy(logits, batch["y"], reduction="sum"),
            "correct": (logits.argmax(-1) == batch["y"]).sum(),
            "n": len(batch["y"]),
        }

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        n = sum(p["n"] for p in partials)
        return {
            "loss": sum(float(p["loss_sum"]) for p in partials) / n,
            "accuracy": sum(int(p["correct"]) for p in partials) / n,
        }


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, armed: bool) -> Tensor:
        ctx.armed = armed
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return (grad * float("inf") if ctx.armed else grad), None


class GradSpike(nn.Module):
    """Identity; while `armed`, its backward turns the gradient into inf (an injected overflow)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def forward(self, x: Tensor) -> Tensor:
        return _Spike.apply(x, self.armed)


class ToyNet(nn.Module):
    """Linear -> LayerNorm -> GELU -> dropout -> spike -> Linear head: (B, 16) -> (B, 4) logits."""

    def __init__(self, n_features: int = 16, hidden: int = 32, n_classes: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(n_features, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(0.1)
        self.spike = GradSpike()
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.spike(self.drop(F.gelu(self.norm(self.proj(x))))))


class ArmSpike(Callback):
    """Arms the model's GradSpike for the steps in `steps` (all steps when `steps` is None)."""

    def __init__(self, model: nn.Module, steps: set[int] | None) -> None:
        self.spike, self.steps = model.spike, steps

    def on_fit_start(self, state: TrainState) -> None:
        self.on_step_end(state)

    def on_step_end(self, state: TrainState) -> None:
        self.spike.armed = self.steps is None or state.step + 1 in self.steps


class Killed(Exception):
    """Stands in for the process being killed (raised by KillAfterCheckpoint)."""


class KillAfterCheckpoint(Callback):
    """Raises `error` (Killed: a crash; KeyboardInterrupt: a Ctrl-C) right after the checkpoint of step `step` is
    written, for resume tests."""

    def __init__(self, step: int, error: type[BaseException] = Killed) -> None:
        self.step, self.error = step, error

    def on_checkpoint(self, state: TrainState, path: Path) -> None:
        if state.step == self.step:
            raise self.error


def toy_config(precision: str | dict[str, Any], **trainer: Any) -> dict[str, Any]:
    """The config of a toy run: `precision` (a registry key or a mapping with `_name_`), TrainerConfig overrides."""
    return {
        "trainer": {"max_steps": 6, "batch_size": 16, "log_every_n_steps": 1, "eval_every_n_steps": 3,
                    "checkpoint_every_n_steps": 3, "device": "cpu", **trainer},
        "task": {"_name_": "toy"},
        "tokenizer": {"_name_": "char"},
        "model": {"_name_": "toy_net"},
        "precision": {"_name_": precision} if isinstance(precision, str) else precision,
        "optimizer": {"_name_": "adamw", "lr": 3e-3},
        "scheduler": {"_name_": "warmup_cosine", "warmup_steps": 2},
        "logger": {"jsonl": {"_name_": "jsonl"}},
    }  # fmt: skip


def toy_trainer(
    precision: str | dict[str, Any],
    run_dir: Path,
    *,
    resume: bool = False,
    spike_steps: set[int] | None = frozenset(),
    callbacks: list[Callback] | None = None,
    task: Task | None = None,
    **trainer: Any,
) -> Trainer:
    """A Trainer over ToyTask/ToyNet built through the one build path; `resume` continues run_dir's latest checkpoint.

    `precision`: a registry key or a config mapping with `_name_`. `trainer`: TrainerConfig overrides.
    `spike_steps`: steps whose gradient is made inf (None: every step). `task`: instead of a fresh ToyTask.
    """
    cfg = toy_config(precision, resume="auto" if resume else None, **trainer)
    run_dir.mkdir(parents=True, exist_ok=True)
    built = build(cfg, run_dir, task=task or ToyTask(), model_factory=lambda spec: ToyNet())
    spike = ArmSpike(built.model, None if spike_steps is None else set(spike_steps))
    built.callbacks = [spike, *(callbacks or [])]
    return built.trainer()
