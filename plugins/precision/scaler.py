"""Dynamic loss scaling (Micikevicius et al. 2018), shared by every strategy that scales: amp_fp16, fp16_master.

The loss is multiplied by `scale` before backward so small gradients survive in fp16; before the
update the gradients are divided by it again. A non-finite gradient means the scale is too large:
the step is skipped and the scale shrinks. After `growth_interval` clean steps it grows again.
An overflow at `min_scale` cannot be cured by scaling, so it raises NonFiniteError (the trainer
saves a crash checkpoint and names the module) instead of skipping steps forever.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from framework import NonFiniteError, any_rank
from plugins.precision.configs import LossScaleConfig


class LossScaler:
    """Scale, unscale-and-check, and update: the loss scale lives on the host, the overflow flag on the device."""

    def __init__(self, cfg: LossScaleConfig) -> None:
        if not 0 < cfg.backoff_factor < 1 or cfg.growth_factor < 1 or cfg.min_scale <= 0:
            raise ValueError(
                "precision: need 0 < backoff_factor < 1, growth_factor >= 1 and min_scale > 0, got "
                f"{cfg.backoff_factor}, {cfg.growth_factor}, {cfg.min_scale}"
            )
        self.cfg = cfg
        self.scale = float(cfg.init_scale)
        self.good_steps = 0  # clean steps since the last growth or overflow
        self.skipped_steps = 0  # over the whole run
        self.overflows = 0  # since the last metrics() read

    def scale_loss(self, loss: Tensor) -> Tensor:
        """`loss * scale` (backward of this gives scaled gradients)."""
        return loss * self.scale

    def unscale_(self, grads: list[Tensor]) -> bool:
        """Divide `grads` by the scale in place and update the scale; True when they overflowed (skip the step).

        Reads one flag from the device: the host must know whether to step (as torch.amp.GradScaler does);
        under torch.distributed the flag is all-reduced (MAX) so every rank decides the same.
        """
        by_device: dict[torch.device, list[Tensor]] = {}
        for g in grads:
            by_device.setdefault(g.device, []).append(g)
        found_any = torch.zeros(1)
        for device, group in by_device.items():
            found = torch.zeros(1, device=device)
            inv = torch.full((1,), 1.0 / self.scale, device=device)
            torch._amp_foreach_non_finite_check_and_unscale_(group, found, inv)
            found_any += found.to("cpu", non_blocking=False)
        # under torchrun every rank must skip (and back off) together: a rank whose gradient shard overflowed
        # decides for all, so the loss scales and the weights stay identical across ranks
        overflow = bool(any_rank(found_any))
        self._update(overflow)
        return overflow

    def _update(self, overflow: bool) -> None:
        c = self.cfg
        if not overflow:
            self.good_steps += 1
            if self.good_steps >= c.growth_interval:
                self.scale *= c.growth_factor
                self.good_steps = 0
            return
        self.skipped_steps += 1
        self.overflows += 1
        self.good_steps = 0
        if self.scale <= c.min_scale:
            raise NonFiniteError(
                f"gradients are non-finite even at the minimum loss scale (precision.min_scale={c.min_scale}); "
                f"{self.skipped_steps} steps were skipped in total"
            )
        self.scale = max(self.scale * c.backoff_factor, c.min_scale)

    def metrics(self) -> dict[str, float]:
        """loss_scale, skipped_steps (whole run) and overflows (since the last call)."""
        out = {"loss_scale": self.scale, "skipped_steps": float(self.skipped_steps), "overflows": float(self.overflows)}
        self.overflows = 0
        return out

    def state_dict(self) -> dict[str, Any]:
        """Scale, growth tracker and counters."""
        return {"scale": self.scale, "good_steps": self.good_steps, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
        self.scale = float(state["scale"])
        self.good_steps = int(state["good_steps"])
        self.skipped_steps = int(state["skipped_steps"])
