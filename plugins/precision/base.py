"""The step every built-in strategy shares; strategies differ only in the hooks they fill in.

backward(loss):  (loss * scale).backward(); after_backward()      # masters collect gradients
step():          [unscale + overflow check -> skip] -> clip -> measure -> update() -> after_update()

Scaling, unscaling and the overflow check, the master-weight hooks and the numerics probes are the strategy's
bookkeeping: each runs inside `precision_phase()`, so a profiled step (`trainer.profiler`) shows their share.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import Tensor, nn

from framework import NumericsProbe, PrecisionStrategy, grad_norm, params_of, precision_phase
from plugins.precision.configs import LossScaleConfig
from plugins.precision.policy import keep_fp32
from plugins.precision.scaler import LossScaler


def clip_grads_(parameters: list[Tensor], max_norm: float) -> Tensor:
    """torch.nn.utils.clip_grad_norm_'s arithmetic, bit for bit, in three multi-tensor ops; returns the norm.

    torch loops over the tensors on CPU and pays Python overhead per call (~0.4 ms on a small model, the
    largest per-step cost there); gradients of mixed dtypes or devices go to torch's own function.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    first = grads[0]
    if any(g.dtype != first.dtype or g.device != first.device for g in grads):
        norm: Tensor = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        return norm
    total: Tensor = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


class BasePrecision(PrecisionStrategy):
    """Autocast (optional), dynamic loss scaling (optional), keep-fp32 policy, telemetry, state."""

    def __init__(
        self,
        name: str,
        compute_dtype: torch.dtype,
        *,
        autocast_dtype: torch.dtype | None = None,
        scaling: LossScaleConfig | None = None,
        keep: list[str] | None = None,
    ) -> None:
        self.name = name
        self.compute_dtype = compute_dtype  # the training dtype: telemetry measures underflow in it
        self.autocast_dtype = autocast_dtype
        self.scaler = LossScaler(scaling) if scaling is not None else None
        self.handles_overflow = self.scaler is not None
        self.keep = list(keep or [])
        self.kept_fp32: list[str] = []  # module names the policy kept in fp32
        self.probe = NumericsProbe(compute_dtype)

    # -- hooks for subclasses --------------------------------------------------------------------

    def after_backward(self) -> None:
        """After each backward (master strategies move gradients to the master copy)."""

    def update(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply the update (bf16 overrides this for compensated / stochastic rounding)."""
        optimizer.step()

    def after_update(self) -> None:
        """After each applied update (master strategies copy masters back into the model)."""

    def apply_policy(self, model: nn.Module, *, output_dtype: torch.dtype | None) -> None:
        """Keep the modules matching `keep` in fp32 (call after casting the model)."""
        self.kept_fp32 = keep_fp32(model, self.keep, device_type=self.device.type, output_dtype=output_dtype)

    # -- the interface ---------------------------------------------------------------------------

    def autocast(self) -> AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def backward(self, loss: Tensor) -> None:
        if self.scaler is not None:
            with precision_phase():
                loss = self.scaler.scale_loss(loss)
        loss.backward()
        with precision_phase():
            self.after_backward()

    def step(self, optimizer: torch.optim.Optimizer, clip_grad_norm: float | None, *, measure: bool = False) -> bool:
        params = params_of(optimizer)
        if self.scaler is not None:
            grads = [p.grad for p in params if p.grad is not None]
            with precision_phase():
                overflow = self.scaler.unscale_(grads)
            if overflow:  # skip this update (the scale already backed off)
                optimizer.zero_grad(set_to_none=True)
                return False
        norm = clip_grads_(params, clip_grad_norm) if clip_grad_norm is not None else None
        if measure:
            with precision_phase():
                self.probe.before_update(params, grad_norm(params) if norm is None else norm)
        self.update(optimizer)
        with precision_phase():
            self.after_update()
            if measure:
                self.probe.after_update(params)
        optimizer.zero_grad(set_to_none=True)
        return True

    def divergence_advice(self) -> str:
        """Besides a lower LR and clipping: keep the failing module in fp32, or a wider-range precision."""
        return (
            "lower optimizer.lr, set trainer.clip_grad_norm, keep that module in fp32 "
            "(precision.keep_fp32=[...]) or switch to a wider-range precision (bf16 or fp32)"
        )

    def metrics(self) -> dict[str, float]:
        out = self.probe.read()
        if self.scaler is not None:
            out.update(self.scaler.metrics())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
