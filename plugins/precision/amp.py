"""Automatic mixed precision: fp32 weights, autocast to bf16 or fp16; fp16 adds dynamic loss scaling."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from framework.precision import PrecisionStrategy, UnsupportedPrecisionError, clip_or_measure, params_of
from framework.registry import PRECISIONS, ComponentConfig


@dataclass
class AmpBF16Config(ComponentConfig):
    """Options of bf16 autocast."""


@dataclass
class AmpFP16Config(ComponentConfig):
    """Options of fp16 autocast with dynamic loss scaling (torch.amp.GradScaler)."""

    init_scale: float = 65536.0  # first loss scale (2**16)
    growth_factor: float = 2.0  # multiply the scale after growth_interval clean steps
    backoff_factor: float = 0.5  # multiply the scale on overflow (the step is skipped)
    growth_interval: int = 2000  # clean steps between growths


def check_autocast_dtype(device: torch.device, dtype: torch.dtype, name: str) -> None:
    """Fail at setup, naming a strategy that works, when `device` cannot autocast to `dtype`."""
    if device.type == "cuda":
        if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise UnsupportedPrecisionError(
                f"precision={name}: this GPU has no bf16 support; use precision=amp_fp16 (or fp32)"
            )
        return
    if device.type == "cpu":
        return  # CPU autocast supports bf16 and fp16 (torch >= 2.1)
    raise UnsupportedPrecisionError(f"precision={name} is not supported on device '{device}'; use precision=fp32")


class AmpPrecision(PrecisionStrategy):
    """fp32 master weights in the model; matmuls autocast to `dtype`; optional GradScaler."""

    def __init__(self, name: str, dtype: torch.dtype, scaler_cfg: AmpFP16Config | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.scaler_cfg = scaler_cfg
        self.scaler: torch.amp.GradScaler | None = None
        self.skipped_steps = 0
        self._grad_norm: Tensor | None = None

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        check_autocast_dtype(device, self.dtype, self.name)
        self.device = device
        if self.scaler_cfg is not None:
            c = self.scaler_cfg
            self.scaler = torch.amp.GradScaler(
                device.type,
                init_scale=c.init_scale,
                growth_factor=c.growth_factor,
                backoff_factor=c.backoff_factor,
                growth_interval=c.growth_interval,
            )
        return model.to(device=device, dtype=torch.float32)

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, clip_grad_norm: float | None, *, measure: bool = False) -> bool:
        if self.scaler is None:
            norm = clip_or_measure(params_of(optimizer), clip_grad_norm, measure)
            optimizer.step()
            stepped = True
        else:
            self.scaler.unscale_(optimizer)  # clip true gradients, not scaled ones
            norm = clip_or_measure(params_of(optimizer), clip_grad_norm, measure)
            scale_before = self.scaler.get_scale()
            self.scaler.step(optimizer)  # skips the update when a gradient is inf/nan
            self.scaler.update()
            stepped = self.scaler.get_scale() >= scale_before
            if not stepped:
                self.skipped_steps += 1
        if measure:
            self._grad_norm = norm
        optimizer.zero_grad(set_to_none=True)
        return stepped

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self._grad_norm is not None:
            out["grad_norm"] = float(self._grad_norm)
        if self.scaler is not None:
            out["loss_scale"] = float(self.scaler.get_scale())
            out["skipped_steps"] = float(self.skipped_steps)
        return out

    def state_dict(self) -> dict[str, Any]:
        if self.scaler is None:
            return {}
        return {"scaler": self.scaler.state_dict(), "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state["scaler"])
            self.skipped_steps = int(state["skipped_steps"])


@PRECISIONS.register("amp_bf16", config=AmpBF16Config)
def build_amp_bf16(cfg: AmpBF16Config) -> AmpPrecision:
    """bf16 autocast with fp32 weights: fp32's range, no loss scaling needed."""
    return AmpPrecision("amp_bf16", torch.bfloat16)


@PRECISIONS.register("amp_fp16", config=AmpFP16Config)
def build_amp_fp16(cfg: AmpFP16Config) -> AmpPrecision:
    """fp16 autocast with dynamic loss scaling; overflowing steps are skipped and counted."""
    return AmpPrecision("amp_fp16", torch.float16, cfg)
