"""The precision strategies' config schemas, in a module that imports no torch: `plait list`, `describe` and
`--help` read them without importing the strategies (declared in `plugins/precision/__init__.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from framework import REFERENCE_PRECISION, Choice, ComponentConfig, above, at_least, between


def norms() -> list[str]:
    """Default keep_fp32 patterns: norm layers keep their statistics and scales in fp32.

    Micikevicius et al. (2018) keep batch-norm in fp32; layer norms need it for the same reason.
    """
    return ["*Norm*", "*norm*"]


class KahanBackend(Choice):
    """Who applies the bf16 Kahan update (`precision.kahan_backend`)."""

    auto = "auto"  # optimi on CUDA when installed and the optimizer is Adam/AdamW, else builtin
    optimi = "optimi"  # torch-optimi's foreach Kahan Adam/AdamW (pip install 'plait[optimi]')
    builtin = "builtin"  # fp32 copies around optimizer.step(): any optimizer


@dataclass
class LossScaleConfig(ComponentConfig):
    """Dynamic loss scaling options, shared by every scaling strategy."""

    init_scale: float = 65536.0  # first loss scale (2**16)
    growth_factor: float = 2.0  # multiply the scale after growth_interval clean steps
    backoff_factor: float = 0.5  # multiply the scale on overflow (the step is skipped)
    growth_interval: int = 2000  # clean steps between growths
    min_scale: float = 1.0  # an overflow at this scale aborts the run (crash checkpoint + nan_report.json)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        above(self, 0, "init_scale", "min_scale")
        at_least(self, 1, "growth_factor", "growth_interval")
        between(self, "backoff_factor", 0, 1, low_open=True, high_open=True)


@dataclass
class AmpBF16Config(ComponentConfig):
    """Options of bf16 autocast."""

    keep_fp32: list[str] = field(default_factory=list)  # modules run outside autocast (globs on name or class; re:...)


@dataclass
class AmpFP16Config(LossScaleConfig):
    """Options of fp16 autocast with dynamic loss scaling."""

    keep_fp32: list[str] = field(default_factory=list)  # modules run outside autocast (globs on name or class; re:...)


@dataclass
class AutoConfig(ComponentConfig):
    """Options of precision=auto (none: the device decides)."""


class BF16Update(Choice):
    """How each optimizer step's fp32 result is stored back into the bf16 weights (`precision.update`)."""

    plain = "plain"
    kahan = "kahan"
    stochastic = "stochastic"


@dataclass
class BF16Config(ComponentConfig):
    """Options of pure bf16 training."""

    update: BF16Update = BF16Update.kahan  # plain | kahan (compensation buffers) | stochastic (stochastic rounding)
    keep_fp32: list[str] = field(default_factory=norms)  # modules kept fp32: globs on name or class, re:<regex>
    kahan_backend: KahanBackend = KahanBackend.auto  # kahan: auto (optimi on CUDA) | optimi (Adam/AdamW) | builtin


@dataclass
class FP32Config(ComponentConfig):
    """Options of full fp32 training."""

    capabilities: ClassVar[frozenset[str]] = frozenset({REFERENCE_PRECISION})  # `plait compare` baseline

    tf32: bool = False  # allow TF32 tensor-core matmuls on CUDA (Ampere+): faster, ~10-bit mantissa


def head_and_norms() -> list[str]:
    """Default of fp8.keep_fp32: the output head and the norms."""
    return ["*head*", *norms()]


class FP8Recipe(Choice):
    """torchao's Float8LinearConfig recipe names (`precision.recipe`)."""

    tensorwise = "tensorwise"
    rowwise = "rowwise"
    rowwise_with_gw_hp = "rowwise_with_gw_hp"


@dataclass
class FP8Config(ComponentConfig):
    """Options of float8 training (torchao)."""

    recipe: FP8Recipe = FP8Recipe.tensorwise  # torchao Float8LinearConfig recipe
    compile: bool = True  # torch.compile the model (fp8 is slower than bf16 without it)
    keep_fp32: list[str] = field(default_factory=head_and_norms)  # not converted to fp8; run in fp32


@dataclass
class FP16MasterConfig(LossScaleConfig):
    """Options of fp16 training with fp32 master weights and dynamic loss scaling."""

    keep_fp32: list[str] = field(default_factory=norms)  # modules kept fp32: globs on name or class, re:<regex>


@dataclass
class FP64MasterConfig(ComponentConfig):
    """Options of fp32 compute with fp64 master weights (no options yet)."""
