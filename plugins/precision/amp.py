"""Automatic mixed precision: fp32 weights, autocast to bf16 or fp16; fp16 adds dynamic loss scaling."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from framework import UnsupportedPrecisionError, cpu_bf16_native
from plugins.precision.base import BasePrecision
from plugins.precision.configs import AmpBF16Config, AmpFP16Config, LossScaleConfig


class EmulatedPrecisionWarning(UserWarning):
    """The chosen precision works on this device but in software, slower than fp32."""


def check_device(device: torch.device, dtype: torch.dtype, name: str) -> None:
    """Fail at setup, naming a strategy that works, when `device` cannot compute in `dtype`."""
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise UnsupportedPrecisionError(
                f"precision={name}: this GPU has no bf16 support; use precision=amp_fp16 (or fp32)"
            )
        return
    if device.type == "cpu":  # CPU autocast and kernels support bf16 and fp16 (torch >= 2.1), maybe emulated
        if dtype == torch.bfloat16:
            native, why = cpu_bf16_native()
            if not native:
                warnings.warn(
                    f"precision={name} runs emulated here ({why}); precision=auto or fp32 is faster",
                    EmulatedPrecisionWarning,
                    stacklevel=3,
                )
        return
    raise UnsupportedPrecisionError(f"precision={name} is not supported on device '{device}'; use precision=fp32")


class AmpPrecision(BasePrecision):
    """fp32 weights in the model; matmuls autocast to `dtype`; fp16 scales the loss."""

    def __init__(self, name: str, dtype: torch.dtype, keep: list[str], scaling: LossScaleConfig | None) -> None:
        super().__init__(name, dtype, autocast_dtype=dtype, scaling=scaling, keep=keep)

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        check_device(device, self.compute_dtype, self.name)
        self.device = device
        model = model.to(device=device, dtype=torch.float32)
        self.apply_policy(model, output_dtype=None)
        return model


def build_amp_bf16(cfg: AmpBF16Config) -> AmpPrecision:
    """bf16 autocast with fp32 weights: fp32's range, no loss scaling needed."""
    return AmpPrecision("amp_bf16", torch.bfloat16, cfg.keep_fp32, None)


def build_amp_fp16(cfg: AmpFP16Config) -> AmpPrecision:
    """fp16 autocast with dynamic loss scaling; overflowing steps are skipped and counted."""
    return AmpPrecision("amp_fp16", torch.float16, cfg.keep_fp32, cfg)
