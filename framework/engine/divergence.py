"""Stopping a run that went non-finite, with what it takes to fix it. `stop`, in order:

    save a crash checkpoint            <run>/crash/step_NNNNNNN, never picked by resume=auto
    re-run the step's micro-batches    same RNG state, under hooks (framework.engine.numerics)
    write <run>/nan_report.json        the first module that went non-finite, the precision's advice
    log train/diverged, raise DivergenceError

`Replay` is the trainer's record of the current step (RNG state, micro-batches) that makes the re-run possible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from framework.callback import TrainState
from framework.engine import distributed, numerics
from framework.engine.checkpoint import Checkpointer
from framework.precision import PrecisionStrategy
from framework.task import Batch, Task


@dataclass
class Replay:
    """What re-running the current step needs: the RNG state before it and its micro-batches."""

    device: torch.device
    rng: tuple[torch.Tensor, torch.Tensor | None]
    batches: list[Batch]

    @classmethod
    def before_step(cls, device: torch.device) -> Replay:
        """An empty record holding the RNG state now (no host sync: cheap enough for every step)."""
        return cls(device, numerics.rng_snapshot(device), [])

    def locate(self, model: nn.Module, task: Task, precision: PrecisionStrategy) -> numerics.Finding | None:
        """Re-run the micro-batches from the recorded RNG state under hooks; the first non-finite value, if any."""
        numerics.restore_rng(self.rng, self.device)
        for batch in self.batches:

            def compute_loss(batch: Batch = batch) -> torch.Tensor:
                with precision.autocast():
                    return task.loss(model, batch)

            finding = numerics.locate_nonfinite(model, compute_loss, precision.backward)
            if finding is not None:
                return finding
        return None


def stop(
    reason: str,
    state: TrainState,
    replay: Replay,
    model: nn.Module,
    task: Task,
    precision: PrecisionStrategy,
    checkpoint: dict[str, Any],
    checkpoint_files: dict[str, Path],
    log: Callable[[dict[str, float], int], None],
) -> NoReturn:
    """Save `checkpoint` (with `checkpoint_files`) as the crash checkpoint, re-run `replay` under hooks, write
    nan_report.json, `log` train/diverged and raise DivergenceError.

    `checkpoint` holds the weights of the last finished step; its data position is past the failing batches.
    """
    crash_dir = Checkpointer(state.run_dir / "crash", keep_last=1)
    crash = crash_dir.save(state.step, checkpoint, checkpoint_files) if distributed.is_main() else crash_dir.directory
    finding = replay.locate(model, task, precision)
    report = numerics.NonFiniteReport(state.step, reason, finding, str(crash), precision.divergence_advice())
    path = report.write(state.run_dir) if distributed.is_main() else state.run_dir
    log({"train/diverged": 1.0, **{f"precision/{k}": v for k, v in precision.metrics().items()}}, state.step)
    raise numerics.DivergenceError(f"{report.message()} Report: {path}")
