"""`callback=[ema]`: an exponential moving average of the model's weights, evaluated beside them.

After every `update_every_n_steps`-th optimizer step, each floating parameter and buffer w of the model updates
its average a = decay_t * a + (1 - decay_t) * w, starting from a = w when training starts (torch's
`swa_utils.get_ema_avg_fn`; timm's `ModelEmaV3` averages the same state_dict entries with `_foreach_lerp_`).
With `warmup`, decay_t = min(decay, (1 + t) / (10 + t)) after t updates, as TensorFlow's
`tf.train.ExponentialMovingAverage(decay, num_updates)`, so early averages do not hold on to the initial weights.

The average is kept in fp32 on the model's device whatever the precision (bf16 weights, fp16 with fp32 masters).
At each evaluation it is evaluated too, logged as `val_ema/<metric>`; it is saved in every checkpoint (resumed
exactly), and `plait eval <run> weights=ema` (predict, translate, generate, answer, export) uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from framework import WEIGHT_SETS, Callback, PlaitError, TrainState
from plugins.callbacks.configs import EMAConfig

SET_NAME = "ema"  # the weight set's name: `weights=ema`


def floating_state(model: nn.Module) -> dict[str, Tensor]:
    """The model's floating parameters and buffers by state_dict name (detached, sharing storage)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


class EMA(Callback):
    """Keeps the fp32 average of the weights; its state (updates made, the average) is in every checkpoint."""

    def __init__(self, cfg: EMAConfig) -> None:
        self.cfg = cfg
        self.updates = 0  # updates made so far (t of the warmup)
        self.average: dict[str, Tensor] | None = None  # None until training starts (or a checkpoint restores it)

    def decay(self) -> float:
        """The decay of the next update."""
        if not self.cfg.warmup:
            return self.cfg.decay
        return min(self.cfg.decay, (1 + self.updates) / (10 + self.updates))

    def on_fit_start(self, state: TrainState) -> None:
        if state.model is None:
            return
        current = floating_state(state.model)
        if any(type(t).__name__ == "DTensor" for t in current.values()):
            raise PlaitError("callback=ema does not support trainer.strategy=fsdp (sharded weights); use ddp")
        if self.average is None:  # a fresh run: the average starts at the initial weights
            self.average = {k: v.detach().float().clone() for k, v in current.items()}
            return
        if self.average.keys() != current.keys():
            raise PlaitError("the checkpoint's ema weights do not fit this model (another model shape?)")
        self.average = {k: v.to(current[k].device) for k, v in self.average.items()}  # restored on the CPU

    def on_step_end(self, state: TrainState) -> None:
        if self.average is None or state.model is None or state.step % self.cfg.update_every_n_steps:
            return
        current = floating_state(state.model)
        names = list(self.average)
        with torch.no_grad():  # a = a + (1 - d) (w - a); queued on the device, no sync
            torch._foreach_lerp_(
                [self.average[k] for k in names], [current[k].float() for k in names], 1 - self.decay()
            )
        self.updates += 1

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        if not self.cfg.evaluate or self.average is None or state.evaluate is None:
            return
        split = next(iter(metrics), "val/").split("/", 1)[0]
        state.evaluate(split, self.average, prefix=f"{split}_ema")

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, WEIGHT_SETS: {SET_NAME: self.average} if self.average is not None else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))
        self.average = state.get(WEIGHT_SETS, {}).get(SET_NAME)


def build_ema(cfg: EMAConfig, *, run_dir: Path) -> EMA:
    """An fp32 exponential moving average of the weights, evaluated beside them (val_ema/...), weights=ema."""
    return EMA(cfg)
