"""Full single precision: the baseline every other strategy is compared against."""

from __future__ import annotations

import torch
from torch import nn

from plugins.precision.base import BasePrecision
from plugins.precision.configs import FP32Config


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


def build_fp32(cfg: FP32Config) -> FP32Precision:
    """Full fp32 (optionally TF32 matmuls on CUDA): the numerical baseline."""
    return FP32Precision(cfg)
