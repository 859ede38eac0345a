"""A toy regression problem that the optimizer, scheduler and precision suites train on: a small MLP fitting
sin(sum(x)) on one fixed batch, a few steps at a time."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def toy_model(seed: int = 0) -> nn.Module:
    """A small MLP (Linear, LayerNorm, Tanh, Linear) over 4 inputs, initialised from `seed`."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 1))


def toy_loss(model: nn.Module) -> Tensor:
    """Mean squared error of `model` on the fixed batch (32 rows, target sin(sum(x)))."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g)
    y = x.sum(dim=1, keepdim=True).sin()
    return F.mse_loss(model(x), y)


def toy_steps(model: nn.Module, optimizer: torch.optim.Optimizer, n: int, scheduler: Any = None) -> list[float]:
    """`n` optimizer steps on the toy loss (the scheduler, if any, stepped once per step); the losses."""
    losses = []
    for _ in range(n):
        loss = toy_loss(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses
