"""precision=auto: the fastest strategy this device runs natively, chosen once at setup.

CUDA with bf16 tensor cores -> amp_bf16; older CUDA -> amp_fp16; CPU -> amp_bf16 where bf16 matmuls run in
hardware (AVX512-BF16, AMX, Arm BF16), else fp32 (emulated bf16 is several times slower than fp32).
The build path calls `framework.precision.resolve_precision`, which replaces `auto` by the concrete
strategy before the config is saved, so a run records (and reproduces by name) what actually ran.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from framework import PRECISIONS, PlaitError, PrecisionStrategy, cpu_bf16_native, cuda_bf16_native
from plugins.precision.configs import AutoConfig


def choose(device: torch.device) -> tuple[str, str]:
    """(precision name, one-line reason) for `device`."""
    if device.type == "cuda":
        native, why = cuda_bf16_native(device)
        return ("amp_bf16" if native else "amp_fp16"), why
    if device.type == "cpu":
        native, why = cpu_bf16_native()
        return ("amp_bf16" if native else "fp32"), why
    return "fp32", f"no mixed precision is known to be faster on '{device.type}'"


class AutoPrecision(PrecisionStrategy):
    """Placeholder resolved by the build path; used directly, it resolves at setup and delegates."""

    def __init__(self) -> None:
        self.inner: PrecisionStrategy | None = None

    def resolve(self, device: torch.device) -> tuple[dict[str, Any], str]:
        """The concrete config (`{_name_: ...}`) for `device` and why it was picked."""
        name, why = choose(device)
        return {"_name_": name}, f"precision=auto -> {name} on {device.type}: {why}"

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        node, _ = self.resolve(device)
        self.inner = PRECISIONS.build(node)
        self.device = device
        self.handles_overflow = self.inner.handles_overflow
        return self.inner.setup(model, device)

    def _strategy(self) -> PrecisionStrategy:
        if self.inner is None:
            raise PlaitError("precision=auto: call setup(model, device) first")
        return self.inner

    def optimizer_target(self, model: nn.Module) -> nn.Module:
        return self._strategy().optimizer_target(model)

    def autocast(self) -> AbstractContextManager[Any]:
        return self._strategy().autocast()

    def backward(self, loss: torch.Tensor) -> None:
        self._strategy().backward(loss)

    def step(self, optimizer: torch.optim.Optimizer, clip_grad_norm: float | None, *, measure: bool = False) -> bool:
        return self._strategy().step(optimizer, clip_grad_norm, measure=measure)

    def metrics(self) -> dict[str, float]:
        return self._strategy().metrics()

    def state_dict(self) -> dict[str, Any]:
        return self._strategy().state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._strategy().load_state_dict(state)


def describe_here() -> str:
    """What auto picks on this machine's default device (shown by `plait describe precision/auto`)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return "Here: " + AutoPrecision().resolve(device)[1]


def build_auto(cfg: AutoConfig) -> AutoPrecision:
    """The fastest native strategy for the device: amp_bf16 (bf16 hardware), amp_fp16 (older GPUs) or fp32."""
    return AutoPrecision()
