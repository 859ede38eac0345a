"""The built-in schedules' config schemas, in a module that imports no torch (see `__init__.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from framework import Choice, ComponentConfig, above, at_least, between


class DecayShape(Choice):
    """How a decay falls from 1 to 0 as its progress p goes from 0 to 1 (`scheduler.shape`)."""

    linear = "linear"  # 1 - p
    cosine = "cosine"  # (1 + cos(pi p)) / 2
    sqrt = "sqrt"  # 1 - sqrt(p)  (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed ...")


@dataclass
class ConstantConfig(ComponentConfig):
    """Options of the constant schedule."""

    warmup_steps: int = 0  # linear warmup from 0 over this many optimizer steps

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 0, "warmup_steps")


@dataclass
class DecayConfig(ConstantConfig):
    """Options of a warmup followed by a decay to `min_lr_ratio` at max_steps."""

    min_lr_ratio: float = 0.0  # the floor: the lr reached at max_steps, as a fraction of optimizer.lr

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        between(self, "min_lr_ratio", 0, 1)


@dataclass
class LinearConfig(DecayConfig):
    """Options of linear warmup, then linear decay to min_lr_ratio (HF's `linear` when it is 0)."""


@dataclass
class CosineConfig(DecayConfig):
    """Options of linear warmup, then cosine decay to min_lr_ratio (HF's `cosine_with_min_lr`, min_lr_rate)."""


@dataclass
class WarmupCosineConfig(CosineConfig):
    """Options of `cosine` with the defaults Plait has always trained with."""

    warmup_steps: int = 50  # linear warmup from 0 over this many optimizer steps
    min_lr_ratio: float = 0.1  # the floor: the lr reached at max_steps, as a fraction of optimizer.lr


@dataclass
class PolynomialConfig(DecayConfig):
    """Options of linear warmup, then polynomial decay (HF's and fairseq's `polynomial_decay`)."""

    power: float = 1.0  # exponent of (1 - progress): 1 is linear, 2 quadratic, 0.5 square root

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        above(self, 0, "power")


@dataclass
class WsdConfig(DecayConfig):
    """Options of warmup-stable-decay: full lr until the last `decay_fraction` of max_steps, then a decay."""

    decay_fraction: float = 0.1  # share of max_steps spent decaying, at the end of the run
    shape: DecayShape = DecayShape.sqrt  # linear | cosine | sqrt (1 - sqrt(progress), the usual WSD cooldown)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        between(self, "decay_fraction", 0, 1)


@dataclass
class InverseSqrtConfig(ConstantConfig):
    """Options of the inverse square-root schedule."""

    warmup_steps: int = 100  # linear warmup to optimizer.lr over this many optimizer steps; also the decay timescale

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 1, "warmup_steps")


class PlateauMode(Choice):
    """Which way the monitored metric improves (`scheduler.mode`)."""

    min = "min"
    max = "max"


@dataclass
class PlateauConfig(ConstantConfig):
    """Options of reduce-on-plateau: lr x factor after more than `patience` evaluations without improvement."""

    monitor: str = "val/loss"  # the evaluation metric watched (val/loss, val/accuracy, ...: what the task logs)
    mode: PlateauMode = PlateauMode.min  # min: lower is better (loss, perplexity) | max: higher is better
    factor: float = 0.5  # the lr is multiplied by this at each reduction
    patience: int = 2  # evaluations without improvement tolerated; the next one reduces the lr
    cooldown: int = 0  # evaluations after a reduction that count as neither good nor bad
    threshold: float = 1e-4  # relative change that counts as an improvement (torch's threshold_mode=rel)
    min_lr_ratio: float = 0.0  # the floor: reductions stop at this fraction of optimizer.lr

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        between(self, "factor", 0, 1, low_open=True, high_open=True)
        at_least(self, 0, "patience", "cooldown", "threshold")
        between(self, "min_lr_ratio", 0, 1)
