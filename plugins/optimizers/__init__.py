"""Built-in optimizers: thin factories over torch.optim with decay / no-decay parameter groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from framework import OPTIMIZERS, ComponentConfig, above, at_least, between, param_groups, require

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


@dataclass
class OptimizerConfig(ComponentConfig):
    """Base of the built-in optimizer schemas: one range check for the fields they share."""

    def validate(self) -> None:
        """lr > 0, eps > 0, weight_decay and momentum >= 0, betas and alpha in [0, 1)."""
        fields = vars(self)
        above(self, 0, *(n for n in ("lr", "eps") if n in fields))
        at_least(self, 0, *(n for n in ("weight_decay", "momentum") if n in fields))
        if "alpha" in fields:
            between(self, "alpha", 0, 1, high_open=True)
        for i, beta in enumerate(fields.get("betas") or []):
            require(0 <= beta < 1, f"betas[{i}]", beta, "in [0, 1)")
        if fields.get("nesterov"):
            require(fields.get("momentum", 0) > 0, "nesterov", True, "false unless momentum > 0")


@dataclass
class SGDConfig(OptimizerConfig):
    """Options of SGD."""

    lr: float = 0.1  # learning rate
    momentum: float = 0.9  # heavy-ball momentum (0 disables)
    nesterov: bool = False  # Nesterov momentum (needs momentum > 0)
    weight_decay: float = 0.0  # L2 penalty on matrices


@dataclass
class AdamConfig(OptimizerConfig):
    """Options of Adam (L2 weight decay added to the gradient)."""

    lr: float = 1e-3  # learning rate
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # moment decay rates
    eps: float = 1e-8  # denominator epsilon
    weight_decay: float = 0.0  # L2 penalty on matrices


@dataclass
class AdamWConfig(AdamConfig):
    """Options of AdamW (decoupled weight decay, Loshchilov & Hutter 2019)."""

    weight_decay: float = 0.01  # decoupled decay on matrices


@dataclass
class RMSpropConfig(OptimizerConfig):
    """Options of RMSprop."""

    lr: float = 1e-3  # learning rate
    alpha: float = 0.99  # smoothing of the squared-gradient average
    eps: float = 1e-8  # denominator epsilon
    momentum: float = 0.0  # momentum
    weight_decay: float = 0.0  # L2 penalty on matrices


@dataclass
class AdagradConfig(OptimizerConfig):
    """Options of Adagrad."""

    lr: float = 1e-2  # learning rate
    eps: float = 1e-10  # denominator epsilon
    weight_decay: float = 0.0  # L2 penalty on matrices


@OPTIMIZERS.register("sgd", config=SGDConfig)
def build_sgd(cfg: SGDConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum."""
    return _build(torch.optim.SGD, model, cfg.weight_decay, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


@OPTIMIZERS.register("adam", config=AdamConfig)
def build_adam(cfg: AdamConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015)."""
    return _build(torch.optim.Adam, model, cfg.weight_decay, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@OPTIMIZERS.register("adamw", config=AdamWConfig)
def build_adamw(cfg: AdamWConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    return _build(torch.optim.AdamW, model, cfg.weight_decay, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@OPTIMIZERS.register("rmsprop", config=RMSpropConfig)
def build_rmsprop(cfg: RMSpropConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """RMSprop (Hinton's lecture 6e)."""
    return _build(
        torch.optim.RMSprop, model, cfg.weight_decay, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum
    )


@OPTIMIZERS.register("adagrad", config=AdagradConfig)
def build_adagrad(cfg: AdagradConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al. 2011)."""
    return _build(torch.optim.Adagrad, model, cfg.weight_decay, lr=cfg.lr, eps=cfg.eps)
