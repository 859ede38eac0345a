"""Master-weight strategies: the model computes in a narrow dtype, the optimizer updates a wider copy.

fp16_master: fp16 model, fp32 masters, dynamic loss scaling (Micikevicius et al. 2018).
fp64_master: fp32 model, fp64 masters and fp64 gradient accumulation (a numerical reference).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from framework import UnsupportedPrecisionError
from plugins.precision.amp import check_device
from plugins.precision.base import BasePrecision
from plugins.precision.configs import FP16MasterConfig, FP64MasterConfig, LossScaleConfig
from plugins.precision.master_weights import MasterWeights
from plugins.precision.policy import cast_inputs


class MasterPrecision(BasePrecision):
    """Model in `compute_dtype`; a `master_dtype` copy is what the optimizer updates and what is checkpointed."""

    def __init__(
        self,
        name: str,
        compute_dtype: torch.dtype,
        master_dtype: torch.dtype,
        *,
        scaling: LossScaleConfig | None = None,
        keep: list[str] | None = None,
    ) -> None:
        super().__init__(name, compute_dtype, scaling=scaling, keep=keep)
        self.master_dtype = master_dtype
        self.master: MasterWeights | None = None

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        check_device(device, self.compute_dtype, self.name)
        if self.master_dtype == torch.float64 and device.type not in ("cpu", "cuda"):
            raise UnsupportedPrecisionError(f"precision={self.name}: {device} has no fp64; use precision=fp32")
        self.device = device
        model = model.to(device=device, dtype=torch.float32)
        self.master = MasterWeights(model, self.master_dtype)  # copied before casting down: nothing lost
        model = model.to(dtype=self.compute_dtype)
        self.apply_policy(model, output_dtype=self.compute_dtype)
        cast_inputs(model, self.compute_dtype)
        self.master.bind(model)
        return model

    def _master(self) -> MasterWeights:
        """The master copy that setup() made."""
        assert self.master is not None, "call setup() first"
        return self.master

    def optimizer_target(self, model: nn.Module) -> nn.Module:
        return self._master().module

    def after_backward(self) -> None:
        self._master().accumulate_grads()

    def after_update(self) -> None:
        self._master().copy_to_model()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "master": self._master().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "master" in state:
            self._master().load_state_dict(state["master"])


def build_fp16_master(cfg: FP16MasterConfig) -> MasterPrecision:
    """fp16 model with fp32 master weights and dynamic loss scaling; norms stay fp32 by default."""
    return MasterPrecision("fp16_master", torch.float16, torch.float32, scaling=cfg, keep=cfg.keep_fp32)


def build_fp64_master(cfg: FP64MasterConfig) -> MasterPrecision:
    """fp32 compute with fp64 master weights and fp64 gradient accumulation: a numerical reference."""
    return MasterPrecision("fp64_master", torch.float32, torch.float64)
