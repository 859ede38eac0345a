"""The built-in optimizers' config schemas, in a module that imports no torch (see `__init__.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework import ComponentConfig, above, at_least, between, require


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
