"""Built-in learning-rate schedules, as multipliers of the optimizer's lr (LambdaLR; a no-op when constant)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from framework import SCHEDULERS, ComponentConfig, at_least, between


@dataclass
class ConstantConfig(ComponentConfig):
    """Options of the constant schedule."""

    warmup_steps: int = 0  # linear warmup from 0 over this many optimizer steps

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 0, "warmup_steps")


@dataclass
class WarmupCosineConfig(ConstantConfig):
    """Options of linear warmup followed by cosine decay."""

    warmup_steps: int = 50  # linear warmup from 0 over this many optimizer steps
    min_lr_ratio: float = 0.1  # final lr as a fraction of the peak lr

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        between(self, "min_lr_ratio", 0, 1)


def warmup(step: int, warmup_steps: int) -> float:
    """Linear warmup factor in (0, 1]."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


class ConstantSchedule:
    """The optimizer's lr, unchanged: only counts steps (a LambdaLR costs ~10 us a step to multiply by 1)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.last_epoch = 0  # optimizer steps taken, as torch's schedulers count them

    def step(self) -> None:
        """Count the step; the lr stays."""
        self.last_epoch += 1

    def get_last_lr(self) -> list[float]:
        """The lr of each parameter group."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The step count (the lr lives in the optimizer's state)."""
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step count."""
        self.last_epoch = int(state.get("last_epoch", 0))


@SCHEDULERS.register("constant", config=ConstantConfig)
def build_constant(
    cfg: ConstantConfig, *, optimizer: torch.optim.Optimizer, max_steps: int
) -> LambdaLR | ConstantSchedule:
    """Constant lr after an optional linear warmup."""
    if cfg.warmup_steps <= 0:
        return ConstantSchedule(optimizer)
    return LambdaLR(optimizer, lambda step: warmup(step, cfg.warmup_steps))


@SCHEDULERS.register("warmup_cosine", config=WarmupCosineConfig)
def build_warmup_cosine(cfg: WarmupCosineConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Linear warmup, then cosine decay to min_lr_ratio at max_steps."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return warmup(step, cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
