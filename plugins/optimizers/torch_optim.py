"""The built-in optimizers: thin factories over torch.optim with decay / no-decay parameter groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from framework import param_groups
from plugins.optimizers.configs import AdagradConfig, AdamConfig, AdamWConfig, RMSpropConfig, SGDConfig

FUSED = {  # device type: the torch.optim classes with a fused kernel there (every floating dtype)
    "cuda": (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW),
    "cpu": (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adagrad),
}


def fast_kernels(optimizer: type[torch.optim.Optimizer], params: Iterable[Any]) -> dict[str, bool]:
    """The step's kernels, decided here for every optimizer: `fused=True` (one kernel over all tensors) where the
    optimizer has one for the parameters' device; else `foreach=True` on CUDA; else torch's default (on CPU a
    per-tensor loop, which measured as fast as foreach there; fused is ~3x both: docs/performance.md "Fast path")."""
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    devices = {p.device.type for p in tensors}
    if len(devices) != 1 or not all(p.is_floating_point() for p in tensors):
        return {}
    device = devices.pop()
    if optimizer in FUSED.get(device, ()):
        return {"fused": True}
    return {"foreach": True} if device == "cuda" else {}


def _build(
    optimizer: type[torch.optim.Optimizer], model: nn.Module, weight_decay: float, **options: Any
) -> torch.optim.Optimizer:
    """`optimizer` over the decay / no-decay groups of `model`, with the fastest kernels the device has."""
    groups = param_groups(model, weight_decay)
    make: Callable[..., torch.optim.Optimizer] = optimizer  # each subclass has its own options, not the base's
    return make(groups, **options, **fast_kernels(optimizer, groups))


def build_sgd(cfg: SGDConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum."""
    return _build(torch.optim.SGD, model, cfg.weight_decay, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def build_adam(cfg: AdamConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015)."""
    return _build(torch.optim.Adam, model, cfg.weight_decay, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


def build_adamw(cfg: AdamWConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    return _build(torch.optim.AdamW, model, cfg.weight_decay, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


def build_rmsprop(cfg: RMSpropConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """RMSprop (Hinton's lecture 6e)."""
    return _build(
        torch.optim.RMSprop, model, cfg.weight_decay, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum
    )


def build_adagrad(cfg: AdagradConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al. 2011)."""
    return _build(torch.optim.Adagrad, model, cfg.weight_decay, lr=cfg.lr, eps=cfg.eps)
