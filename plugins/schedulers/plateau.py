"""`scheduler=plateau`: reduce the lr when an evaluation metric stops improving (torch's ReduceLROnPlateau rules),
after a linear warmup during which it never reduces. The trainer hands it each evaluation's metrics (`observe`)."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from framework import PlaitError
from plugins.schedulers.closed_form import with_warmup
from plugins.schedulers.configs import PlateauConfig, PlateauMode


class PlateauSchedule(LambdaLR):
    """Warmup, then optimizer.lr x `scale`; `observe` lowers `scale` on a plateau.

    Its state_dict holds what decides future rates: the step, `scale`, `best`, `bad_evals`, `cooldown_left`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: PlateauConfig) -> None:
        self.cfg = cfg  # options come from the config, not the checkpoint (state_dict leaves them out)
        self.scale = 1.0  # product of the reductions so far, never below min_lr_ratio
        self.best: float | None = None  # best monitored value since warmup ended
        self.bad_evals = 0  # evaluations since the best one (reset by a reduction and during cooldown)
        self.cooldown_left = 0  # evaluations still in cooldown after the last reduction
        super().__init__(optimizer, with_warmup(cfg.warmup_steps, lambda step: self.scale))

    def observe(self, metrics: dict[str, float]) -> None:
        """One evaluation's metrics: count it as an improvement or not, and reduce the lr after `patience` bad ones."""
        cfg = self.cfg
        if cfg.monitor not in metrics:
            raise PlaitError(
                f"scheduler.monitor={cfg.monitor} is not a metric of this evaluation; it logs: {', '.join(metrics)}"
            )
        if self.last_epoch < cfg.warmup_steps:  # a model still warming up says nothing about a plateau
            return
        value = float(metrics[cfg.monitor])
        if self._improves(value):
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_evals = 0
        if self.bad_evals > cfg.patience:
            self.scale = max(self.scale * cfg.factor, cfg.min_lr_ratio)
            self.cooldown_left, self.bad_evals = cfg.cooldown, 0
            self._set_lrs()

    def _improves(self, value: float) -> bool:
        """Better than the best by more than the relative threshold (always, for the first value)."""
        if self.best is None:
            return value == value  # a nan is never an improvement
        if self.cfg.mode == PlateauMode.min:
            return value < self.best * (1 - self.cfg.threshold)
        return value > self.best * (1 + self.cfg.threshold)

    def _set_lrs(self) -> None:
        """Apply the current factor to every parameter group now (the next update uses it)."""
        lrs = [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas, strict=True)]
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def state_dict(self) -> dict[str, Any]:
        """LambdaLR's state (the step and the plateau counters), without the options."""
        state = super().state_dict()
        del state["cfg"]
        return state


def build_plateau(cfg: PlateauConfig, *, optimizer: torch.optim.Optimizer, max_steps: int) -> PlateauSchedule:
    """Linear warmup, then lr x factor whenever scheduler.monitor has not improved in over `patience` evaluations."""
    return PlateauSchedule(optimizer, cfg)
