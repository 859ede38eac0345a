"""Full single precision: the baseline every other strategy is compared against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from framework import PRECISIONS, REFERENCE_PRECISION, ComponentConfig
from plugins.precision.base import BasePrecision


@dataclass
class FP32Config(ComponentConfig):
    """Options of full fp32 training."""

    capabilities: ClassVar[frozenset[str]] = frozenset({REFERENCE_PRECISION})  # `plait compare` baseline

    tf32: bool = False  # allow TF32 tensor-core matmuls on CUDA (Ampere+): faster, ~10-bit mantissa


class FP32Precision(BasePrecision):
    """fp32 weights, activations and gradients; no autocast, no scaling."""

    def __init__(self, cfg: FP32Config) -> None:
        super().__init__("fp32", torch.float32)
        self.cfg = cfg

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        self.device = device
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = self.cfg.tf32
            torch.backends.cudnn.allow_tf32 = self.cfg.tf32
        return model.to(device=device, dtype=torch.float32)


@PRECISIONS.register("fp32", config=FP32Config)
def build_fp32(cfg: FP32Config) -> FP32Precision:
    """Full fp32 (optionally TF32 matmuls on CUDA): the numerical baseline."""
    return FP32Precision(cfg)
