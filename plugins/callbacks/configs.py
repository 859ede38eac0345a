"""Config schemas of the callbacks whose modules import torch, kept here so listing and `--help` need no torch."""

from __future__ import annotations

from dataclasses import dataclass

from framework import ComponentConfig, at_least, between


@dataclass
class EMAConfig(ComponentConfig):
    """Options of the exponential moving average of the weights."""

    decay: float = 0.999  # a = decay * a + (1 - decay) * w at each update; ~1/(1 - decay) updates remembered
    warmup: bool = False  # decay_t = min(decay, (1 + t) / (10 + t)) after t updates (TensorFlow's num_updates)
    update_every_n_steps: int = 1  # update after every n-th optimizer step (decay is per update)
    evaluate: bool = True  # evaluate the average at each evaluation, logged as val_ema/<metric>

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        between(self, "decay", 0, 1)
        at_least(self, 1, "update_every_n_steps")
