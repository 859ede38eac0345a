"""fp8 training through torchao: eligible Linear layers compute in float8 with dynamic scaling, the rest
in bf16 autocast, weights in fp32 (Micikevicius et al. 2022, "FP8 Formats for Deep Learning").

Needs an NVIDIA GPU with compute capability >= 8.9 (Ada, Hopper, Blackwell) and `pip install torchao`;
torchao is imported only here, only when fp8 is chosen. torch.compile fuses the scaling and casts.
"""

from __future__ import annotations

import torch
from torch import nn

from framework import UnsupportedPrecisionError
from plugins.precision.base import BasePrecision
from plugins.precision.configs import FP8Config

MIN_CAPABILITY = (8, 9)


FALLBACK = "Use precision=amp_bf16 (bf16 autocast, fp32 weights) instead."


def check_fp8_device(device: torch.device) -> None:
    """Raise UnsupportedPrecisionError, suggesting amp_bf16, unless `device` has fp8 tensor cores."""
    if device.type != "cuda":
        raise UnsupportedPrecisionError(
            f"precision=fp8 needs an NVIDIA GPU with compute capability >= 8.9 (Ada, Hopper or newer); "
            f"this run is on '{device}'. {FALLBACK}"
        )
    capability = torch.cuda.get_device_capability(device)
    if capability < MIN_CAPABILITY:
        raise UnsupportedPrecisionError(
            f"precision=fp8 needs compute capability >= 8.9; {torch.cuda.get_device_name(device)} has "
            f"{capability[0]}.{capability[1]}. {FALLBACK}"
        )


class FP8Precision(BasePrecision):
    """Float8 Linear layers (torchao) + bf16 autocast elsewhere; no loss scaling (per-tensor scales instead)."""

    def __init__(self, cfg: FP8Config) -> None:
        super().__init__("fp8", torch.bfloat16, autocast_dtype=torch.bfloat16, keep=cfg.keep_fp32)
        self.cfg = cfg
        self.converted: list[str] = []

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        check_fp8_device(device)
        try:
            from torchao.float8 import Float8LinearConfig, convert_to_float8_training
        except ImportError as exc:
            raise UnsupportedPrecisionError(
                f"precision=fp8 needs torchao ({exc}): pip install torchao. {FALLBACK}"
            ) from exc
        self.device = device
        model = model.to(device=device, dtype=torch.float32)
        self.apply_policy(model, output_dtype=None)
        kept = tuple(self.kept_fp32)

        def eligible(module: nn.Module, fqn: str) -> bool:
            if fqn in kept or fqn.startswith(tuple(k + "." for k in kept)) or not isinstance(module, nn.Linear):
                return False
            ok = module.in_features % 16 == 0 and module.out_features % 16 == 0  # fp8 GEMM shape rule
            if ok and fqn not in self.converted:
                self.converted.append(fqn)
            return ok

        convert_to_float8_training(
            model, module_filter_fn=eligible, config=Float8LinearConfig.from_recipe_name(str(self.cfg.recipe))
        )
        if not self.converted:
            raise UnsupportedPrecisionError(
                "precision=fp8 found no Linear layer to convert (dimensions must divide by 16, "
                f"keep_fp32={list(self.keep)} excluded). {FALLBACK}"
            )
        if self.cfg.compile:
            model.compile()  # in place: parameter names and checkpoints stay the same
        return model


def build_fp8(cfg: FP8Config) -> FP8Precision:
    """float8 matmuls via torchao on GPUs with compute capability >= 8.9; bf16 autocast elsewhere."""
    return FP8Precision(cfg)
