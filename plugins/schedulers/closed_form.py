"""Schedules that are a closed-form function of the step: a linear warmup, then a shape, as multipliers of the
optimizer's lr (`LambdaLR` over a pure function of the step, so resuming needs only the step count).

`step` is the number of optimizer steps taken; the factor at `step` sets the lr of update `step + 1`. Warmup:
`(step + 1) / warmup_steps` while `step < warmup_steps`. A decay then runs from 1 to `min_lr_ratio` over
`progress = (step - start) / (max_steps - start)`, clamped to [0, 1]: `min_lr_ratio + (1 - min_lr_ratio) * shape`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from plugins.schedulers.configs import (
    ConstantConfig,
    CosineConfig,
    DecayConfig,
    InverseSqrtConfig,
    LinearConfig,
    PolynomialConfig,
    WarmupCosineConfig,
    WsdConfig,
)

Factor = Callable[[int], float]  # step -> multiplier of the optimizer's lr


SHAPES: dict[str, Callable[[float], float]] = {
    "linear": lambda p: 1 - p,
    "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * p)),
    "sqrt": lambda p: 1 - math.sqrt(p),
}


# --- factor functions of the step -------------------------------------------------------------------------------


def warmup(step: int, warmup_steps: int) -> float:
    """Linear warmup factor in (0, 1]."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def with_warmup(warmup_steps: int, after: Factor) -> Factor:
    """`after`, preceded by the linear warmup over the first `warmup_steps` optimizer steps."""
    return lambda step: warmup(step, warmup_steps) if step < warmup_steps else after(step)


def decay(cfg: DecayConfig, max_steps: int, shape: Callable[[float], float], start: int | None = None) -> Factor:
    """Warmup, then 1 until `start` (default: the end of warmup), then `shape` down to min_lr_ratio at max_steps."""
    begin = cfg.warmup_steps if start is None else start
    length, floor = max(1, max_steps - begin), cfg.min_lr_ratio

    def after(step: int) -> float:
        progress = min(1.0, max(0.0, (step - begin) / length))
        return floor + (1 - floor) * shape(progress)

    return with_warmup(cfg.warmup_steps, after)


def inverse_sqrt(warmup_steps: int) -> Factor:
    """min(n / warmup, sqrt(warmup / n)) of update n = step + 1: Vaswani et al. (2017), eq. 3, peak scaled to 1."""
    return with_warmup(warmup_steps, lambda step: math.sqrt(warmup_steps / (step + 1)))


# --- the registered schedules ------------------------------------------------------------------------------------


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


def build_constant(
    cfg: ConstantConfig, *, optimizer: torch.optim.Optimizer, max_steps: int
) -> LambdaLR | ConstantSchedule:
    """Constant lr after an optional linear warmup."""
    if cfg.warmup_steps <= 0:
        return ConstantSchedule(optimizer)
    return LambdaLR(optimizer, with_warmup(cfg.warmup_steps, lambda step: 1.0))


def build_linear(cfg: LinearConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Linear warmup, then linear decay to min_lr_ratio at max_steps."""
    return LambdaLR(optimizer, decay(cfg, max_steps, SHAPES["linear"]))


def build_cosine(cfg: CosineConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Linear warmup, then cosine decay to min_lr_ratio at max_steps."""
    return LambdaLR(optimizer, decay(cfg, max_steps, SHAPES["cosine"]))


def build_warmup_cosine(cfg: WarmupCosineConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """`cosine` with 50 warmup steps and a floor of 0.1 (the default schedule)."""
    return LambdaLR(optimizer, decay(cfg, max_steps, SHAPES["cosine"]))


def build_polynomial(cfg: PolynomialConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Linear warmup, then (1 - progress) ** power down to min_lr_ratio at max_steps."""
    return LambdaLR(optimizer, decay(cfg, max_steps, lambda p: (1 - p) ** cfg.power))


def build_wsd(cfg: WsdConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Warmup-stable-decay: warmup, the full lr, then a decay over the last decay_fraction of max_steps."""
    start = max(cfg.warmup_steps, max_steps - round(cfg.decay_fraction * max_steps))
    return LambdaLR(optimizer, decay(cfg, max_steps, SHAPES[str(cfg.shape)], start=start))


def build_inverse_sqrt(cfg: InverseSqrtConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """The Transformer's schedule: lr * min(n / warmup, sqrt(warmup / n)) for update n (peak = optimizer.lr).

    Vaswani et al. 2017, "Attention Is All You Need", eq. 3, scaled so the peak is optimizer.lr instead of
    d_model^-0.5 * warmup^-0.5. fairseq's `inverse_sqrt` (warmup_init_lr=0) is this curve one update later: it
    computes the lr of update n from the n - 1 updates done.
    """
    return LambdaLR(optimizer, inverse_sqrt(cfg.warmup_steps))
