"""The precision strategy interface: one object owns autocast, loss scaling, master weights and their state.

The trainer calls the same few methods for every precision and never branches on dtype:

    model = precision.setup(model, device)              # cast, keep some modules fp32, master weights
    optimizer = build(precision.optimizer_target(model))
    with precision.autocast(): loss = task.loss(model, batch)
    precision.backward(loss)                            # scaled when the strategy scales
    stepped = precision.step(optimizer, clip, measure=log_now)   # False: overflow, step skipped
    precision.metrics()                                 # logging steps only: reads device values
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn


class PrecisionStrategy(ABC):
    """How a model computes, scales its loss and updates its weights in reduced precision."""

    device: torch.device = torch.device("cpu")
    #: True when `step()` itself detects non-finite gradients and skips the step (dynamic loss scaling);
    #: the trainer then treats a non-finite gradient as an overflow, not as divergence.
    handles_overflow: bool = False

    @abstractmethod
    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        """Check the device supports this precision, move/cast the model, create master weights."""

    def optimizer_target(self, model: nn.Module) -> nn.Module:
        """The module whose parameters the optimizer updates (a master copy for master-weight strategies)."""
        return model

    def autocast(self) -> AbstractContextManager[Any]:
        """Context for forward passes and losses."""
        return contextlib.nullcontext()

    def backward(self, loss: Tensor) -> None:
        """Backpropagate `loss` (scaled when the strategy scales)."""
        loss.backward()

    @abstractmethod
    def step(self, optimizer: torch.optim.Optimizer, clip_grad_norm: float | None, *, measure: bool = False) -> bool:
        """Unscale, clip, step and zero the gradients; False when the step was skipped (overflow).

        `measure` asks for telemetry (gradient norm, underflow share, update ratio) to be kept for
        `metrics()`; it is True on logging steps only, so other steps pay nothing for it.
        Raises NonFiniteError when the strategy cannot go on (loss scale at its minimum).
        """

    def metrics(self) -> dict[str, float]:
        """Numerics telemetry since the last call (reads device values: call on logging steps only)."""
        return {}

    def divergence_advice(self) -> str:
        """What to try when training under this strategy goes non-finite (ends the divergence report)."""
        return "lower optimizer.lr or set trainer.clip_grad_norm"

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (scaler state, master weights, counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""


def grad_norm(parameters: Iterable[Tensor]) -> Tensor:
    """Total L2 norm of the gradients, as a device tensor (no host sync)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total: Tensor = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    return total


def params_of(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """All parameters an optimizer updates."""
    return [p for group in optimizer.param_groups for p in group["params"]]
