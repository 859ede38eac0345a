"""Full single precision: the baseline every other strategy is compared against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from framework.precision import PrecisionStrategy, clip_or_measure, params_of
from framework.registry import PRECISIONS, ComponentConfig


@dataclass
class FP32Config(ComponentConfig):
    """Options of full fp32 training."""

    tf32: bool = False  # allow TF32 tensor-core matmuls on CUDA (Ampere+): faster, ~10-bit mantissa


class FP32Precision(PrecisionStrategy):
    """fp32 weights, activations and gradients; no autocast, no scaling."""

    def __init__(self, cfg: FP32Config) -> None:
        self.cfg = cfg
        self._grad_norm: Tensor | None = None

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        self.device = device
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = self.cfg.tf32
            torch.backends.cudnn.allow_tf32 = self.cfg.tf32
        return model.to(device=device, dtype=torch.float32)

    def step(self, optimizer: torch.optim.Optimizer, clip_grad_norm: float | None, *, measure: bool = False) -> bool:
        norm = clip_or_measure(params_of(optimizer), clip_grad_norm, measure)
        if measure:
            self._grad_norm = norm
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return True

    def metrics(self) -> dict[str, float]:
        return {} if self._grad_norm is None else {"grad_norm": float(self._grad_norm)}

    def state_dict(self) -> dict[str, Any]:
        return {}


@PRECISIONS.register("fp32", config=FP32Config)
def build_fp32(cfg: FP32Config) -> FP32Precision:
    """Full fp32 (optionally TF32 matmuls on CUDA): the numerical baseline."""
    return FP32Precision(cfg)
