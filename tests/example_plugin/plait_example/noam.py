"""`scheduler=noam`: linear warmup, then lr proportional to 1/sqrt(step) (Vaswani et al. 2017), peak = optimizer.lr.

Plait's built-in `inverse_sqrt` is the same curve; this one shows how a package adds a scheduler.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from plait_example.configs import NoamConfig


def build_noam(cfg: NoamConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Warmup, then lr * sqrt(warmup / step); stepped once per optimizer step (plait-example)."""
    warmup = max(1, cfg.warmup_steps)

    def factor(step: int) -> float:
        step += 1
        return step / warmup if step < warmup else math.sqrt(warmup / step)

    return LambdaLR(optimizer, factor)
