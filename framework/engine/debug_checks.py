"""What the `debug=` presets add to a run, hooked in by framework.engine.run: observers before `fit`, checks after.

Before: `trainer.profiler` (framework.engine.profiling) and `trainer.overfit_batches`'s early stop
(framework.engine.overfit) join the trainer's callbacks, last, so their events come after everyone else's.
After: the overfit verdict (a PlaitError when the loss never fell below `trainer.overfit_loss`), then
`trainer.verify_reload` and `trainer.verify_predict` (framework.engine.verify), each said in one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

from framework.callback import Callback
from framework.engine import distributed
from framework.engine.config import profiler_window
from framework.engine.overfit import OverfitWatch, verdict
from framework.engine.profiling import StepProfiler
from framework.engine.trainer import Trainer
from framework.engine.verify import verify_predict, verify_reload


def debug_observers(cfg: DictConfig, trainer: Trainer, device: torch.device) -> list[Callback]:
    """The profiler and the overfitting watch, when the trainer config asks for them."""
    tcfg, observers = cfg.trainer, list[Callback]()
    if tcfg.overfit_batches:
        observers.append(OverfitWatch(trainer.history, float(tcfg.overfit_loss)))
    if tcfg.profiler is not None:
        observers.append(StepProfiler(profiler_window(tcfg.profiler), trainer.state.run_dir, device))
    return observers


def after_fit(cfg: DictConfig, run_dir: Path, trainer: Trainer) -> None:
    """The overfit verdict and the verification steps the trainer config asks for (main process says them)."""
    tcfg = cfg.trainer
    if tcfg.overfit_batches and distributed.is_main():
        verdict(trainer.history, float(tcfg.overfit_loss), int(tcfg.overfit_batches), run_dir)
    if tcfg.verify_reload:
        print(verify_reload(cfg, run_dir, trainer), file=sys.stderr)
    if tcfg.verify_predict and distributed.is_main():
        print(verify_predict(run_dir), file=sys.stderr)
