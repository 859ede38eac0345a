"""`trainer.overfit_batches`: train on a few fixed batches, repeated, to prove the model can learn at all.

A model, loss and data pipeline that work drive the training loss of one batch towards zero within a few hundred
steps; one that cannot (a model whose output ignores its input, labels that do not reach the loss, a frozen
parameter) stalls at the loss of guessing. `repeat_first` feeds the trainer; `OverfitWatch` ends the run as soon
as the loss is below `trainer.overfit_loss`; `verdict` prints the loss curve and fails the run when it never was.
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
from collections.abc import Generator
from pathlib import Path
from typing import TypeVar

from framework.callback import Callback, TrainState
from framework.errors import PlaitError

T = TypeVar("T")
CURVE_FILE = "overfit_curve.csv"
LOSS = "train/loss"


def repeat_first(
    stream: Generator[tuple[T, int, int], None, None], n: int
) -> Generator[tuple[T, int, int], None, None]:
    """The first `n` items of the trainer's `(batch, epoch, batch_in_epoch)` stream, repeated forever.

    The data position stays at the start (epoch 0, batch 0), so a resumed overfitting run repeats the same batches.
    """
    fixed = [batch for batch, _, _ in itertools.islice(stream, n)]
    stream.close()  # the rest of the epoch is never read
    for batch in itertools.cycle(fixed):
        yield batch, 0, 0


def losses(history: list[dict[str, float]]) -> list[tuple[int, float]]:
    """(step, training loss) of every logged training row."""
    return [(int(row["step"]), float(row[LOSS])) for row in history if LOSS in row]


class OverfitWatch(Callback):
    """Asks the loop to stop once the logged training loss is below the target (the rows come from `history`)."""

    def __init__(self, history: list[dict[str, float]], target: float) -> None:
        self.history, self.target = history, target

    def on_step_end(self, state: TrainState) -> None:
        """Stop after the step whose logged loss reached the target (rows are logged after this event)."""
        curve = losses(self.history)
        if curve and curve[-1][1] < self.target:
            step, loss = curve[-1]
            state.request_stop(f"overfit: training loss {loss:.4g} < {self.target} at step {step}", status="overfit")


def sparkline(values: list[float], width: int = 40) -> str:
    """The curve in one line of block characters, highest value tallest (log scale, so the tail is visible)."""
    if not values:
        return ""
    n = min(width, len(values))
    picked = [values[round(i * (len(values) - 1) / max(n - 1, 1))] for i in range(n)]
    logs = [math.log(max(v, 1e-12)) for v in picked]
    low, high = min(logs), max(logs)
    bars = "▁▂▃▄▅▆▇█"
    return "".join(bars[int((v - low) / (high - low or 1) * (len(bars) - 1))] for v in logs)


def verdict(history: list[dict[str, float]], target: float, batches: int, run_dir: Path) -> float:
    """Print the loss curve (and write it to `overfit_curve.csv`); the lowest loss, or a PlaitError when it never
    fell below `target`."""
    curve = losses(history)
    if not curve:
        raise PlaitError("trainer.overfit_batches: no training loss was logged; set trainer.log_every_n_steps=1")
    with (run_dir / CURVE_FILE).open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("step", "train_loss"), *curve])
    best_step, best = min(curve, key=lambda row: row[1])
    first_step, first = curve[0]
    print(
        f"overfit: {batches} fixed batch(es), loss {first:.4g} (step {first_step}) -> {curve[-1][1]:.4g} "
        f"(step {curve[-1][0]}), lowest {best:.4g} at step {best_step}\n"
        f"overfit: {sparkline([loss for _, loss in curve])}  ({run_dir / CURVE_FILE})",
        file=sys.stderr,
    )
    if not best < target:
        raise PlaitError(
            f"overfit check failed: the training loss on {batches} fixed batch(es) never fell below "
            f"trainer.overfit_loss={target} in {curve[-1][0]} steps (lowest {best:.4g} at step {best_step}, first "
            f"{first:.4g}). The model cannot fit one batch: check that its output depends on its input, that the "
            "labels reach the loss and that its parameters train; or raise optimizer.lr / trainer.max_steps"
        )
    print(f"overfit: passed, loss {best:.4g} < trainer.overfit_loss={target} at step {best_step}", file=sys.stderr)
    return best
