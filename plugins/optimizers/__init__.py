"""Built-in optimizers: thin factories over torch.optim with decay / no-decay parameter groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from framework.params import param_groups
from framework.registry import OPTIMIZERS, ComponentConfig
from framework.validation import above, at_least, between, require


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
    return torch.optim.SGD(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov
    )


@OPTIMIZERS.register("adam", config=AdamConfig)
def build_adam(cfg: AdamConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015)."""
    return torch.optim.Adam(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@OPTIMIZERS.register("adamw", config=AdamWConfig)
def build_adamw(cfg: AdamWConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@OPTIMIZERS.register("rmsprop", config=RMSpropConfig)
def build_rmsprop(cfg: RMSpropConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """RMSprop (Hinton's lecture 6e)."""
    return torch.optim.RMSprop(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum
    )


@OPTIMIZERS.register("adagrad", config=AdagradConfig)
def build_adagrad(cfg: AdagradConfig, *, model: nn.Module) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al. 2011)."""
    return torch.optim.Adagrad(param_groups(model, cfg.weight_decay), lr=cfg.lr, eps=cfg.eps)
