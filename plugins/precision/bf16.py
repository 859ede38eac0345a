"""Pure bf16: weights, gradients and optimizer state all in bf16, no fp32 copy.

bf16 keeps fp32's range but only 8 mantissa bits, so an update smaller than half a weight's ulp
rounds away (Kalamkar et al. 2019; Zamirai et al. 2020). `update` chooses how the fp32 result of
each optimizer step is stored back:

  plain       round to nearest: cheapest, small updates are lost
  kahan       keep the rounding error in a bf16 compensation buffer and add it back next step
              (compensated summation, Kahan 1965): weights behave as if they had ~16 mantissa bits
  stochastic  round up or down at random with probability proportional to the distance
              (Gupta et al. 2015): unbiased, so small updates survive on average

`kahan_backend` picks who applies the kahan update: torch-optimi's foreach Kahan Adam/AdamW (plugins/precision/
kahan.py; `auto` on CUDA when it is installed and the optimizer is Adam/AdamW) or the built-in fp32 round trip.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from framework import PlaitError, params_of
from plugins.precision.amp import check_device
from plugins.precision.base import BasePrecision
from plugins.precision.configs import BF16Config, BF16Update, KahanBackend
from plugins.precision.kahan import (
    BIASED,
    DEBIASED,
    builtin_reason,
    optimi_adam,
    optimi_step,
    set_moments,
)
from plugins.precision.policy import cast_inputs

UPDATES = BF16Update.values()
log = logging.getLogger(__name__)


def stochastic_round(x: Tensor) -> Tensor:
    """Round fp32 `x` to bf16, up or down with probability proportional to the distance (unbiased)."""
    bits = x.float().view(torch.int32)
    noise = torch.randint_like(bits, 0, 1 << 16)
    return ((bits + noise) & -65536).view(torch.float32).to(torch.bfloat16)  # low 16 bits zero: exact cast


class BF16Precision(BasePrecision):
    """bf16 model updated in place; kahan/stochastic widen each step to fp32 and narrow it back carefully."""

    def __init__(self, cfg: BF16Config) -> None:
        if cfg.update not in UPDATES:
            raise PlaitError(f"precision.update='{cfg.update}' is not known; choose one of {', '.join(UPDATES)}")
        backends = KahanBackend.values()
        if cfg.kahan_backend not in backends:
            raise PlaitError(f"precision.kahan_backend='{cfg.kahan_backend}': choose one of {', '.join(backends)}")
        if cfg.kahan_backend == KahanBackend.optimi:
            if cfg.update != BF16Update.kahan:
                raise PlaitError(f"precision.kahan_backend=optimi applies to update=kahan, not {cfg.update}")
            optimi_adam()  # installed, or an error naming the extra before any work
        super().__init__("bf16", torch.bfloat16, keep=cfg.keep_fp32)
        self.cfg = cfg
        self.compensation: dict[str, Tensor] = {}  # kahan: parameter name -> rounding error carried to next step
        self._names: dict[int, str] = {}
        self.moments = BIASED  # the convention of the optimizer's Adam moments (kahan.py): optimi's are debiased
        self._optimi: dict[Tensor, Tensor] | None = None  # weight -> compensation, once optimi is chosen
        self._chosen = False

    def setup(self, model: nn.Module, device: torch.device) -> nn.Module:
        check_device(device, torch.bfloat16, "bf16")
        self.device = device
        model = model.to(device=device, dtype=torch.bfloat16)
        self.apply_policy(model, output_dtype=torch.bfloat16)
        cast_inputs(model, torch.bfloat16)
        self._names = {id(p): n for n, p in model.named_parameters()}
        if self.cfg.update == "kahan":
            self.compensation = {
                n: torch.zeros_like(p)
                for n, p in model.named_parameters()
                if p.dtype == torch.bfloat16 and p.requires_grad  # frozen weights (adapter=lora's base) never move
            }
        return model

    def _choose(self, optimizer: torch.optim.Optimizer) -> None:
        """At the first update: optimi or the built-in for kahan, and the moments' convention to match."""
        self._chosen, self._optimi = True, None
        if self.cfg.update == BF16Update.kahan:
            why = builtin_reason(self.cfg.kahan_backend, optimizer)
            if why is None:
                comps = ((p, self.compensation.get(self._names.get(id(p), ""))) for p in params_of(optimizer))
                self._optimi = {p: comp for p, comp in comps if comp is not None}
            log.info("bf16 kahan update: %s", "torch-optimi" if why is None else f"built-in ({why})")
        want = DEBIASED if self._optimi is not None else BIASED
        set_moments(optimizer, self.moments, want)
        self.moments = want

    def update(self, optimizer: torch.optim.Optimizer) -> None:
        if not self._chosen:
            self._choose(optimizer)
        if self._optimi is not None:
            optimi_step(optimizer, self._optimi)
            return
        if self.cfg.update == "plain":
            optimizer.step()
            return
        # Run the optimizer on fp32 copies of the bf16 weights, gradients and state, then narrow them back.
        narrow = [p for p in params_of(optimizer) if p.dtype == torch.bfloat16]
        for p in narrow:
            comp = self.compensation.get(self._names.get(id(p), ""))
            p.data = p.data.float().add_(comp) if comp is not None else p.data.float()  # fp32 += bf16: exact widening
            if p.grad is not None:
                p.grad = p.grad.float()
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dtype == torch.bfloat16:
                    optimizer.state[p][key] = value.float()
        optimizer.step()
        for p in narrow:
            wide = p.data
            comp = self.compensation.get(self._names.get(id(p), ""))
            if comp is not None:  # kahan: weight = round(wide), carry the rounding error
                p.data = wide.to(torch.bfloat16)
                comp.copy_(wide.sub_(p.data))  # wide is spent: the error in place, no fp32 copy of the weight
            else:
                p.data = stochastic_round(wide)
            for key, value in optimizer.state.get(p, {}).items():
                if key != "step" and torch.is_tensor(value) and value.dtype == torch.float32:
                    optimizer.state[p][key] = value.to(torch.bfloat16)  # optimizer state stays bf16

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "compensation": dict(self.compensation), "moments": self.moments}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.moments = state.get("moments", BIASED)  # checkpoints from before optimi hold torch's moments
        self._chosen = False  # convert the loaded optimizer state at the next update if the backend differs
        for name, value in state.get("compensation", {}).items():
            if name in self.compensation:  # older checkpoints kept buffers of frozen weights too
                self.compensation[name].copy_(value)


def build_bf16(cfg: BF16Config) -> BF16Precision:
    """Pure bf16 weights and optimizer state, with compensated (kahan) or stochastic rounding of updates."""
    return BF16Precision(cfg)
