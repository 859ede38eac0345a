"""The learning-rate range test (Smith 2015, as fastai's and Lightning's `lr_find` run it): one optimizer step at
each of `steps` rates spaced evenly in log between `min_lr` and `max_lr`, the loss of each step recorded, stopped
as soon as the loss diverges. The weights, optimizer and precision state are restored afterwards.

The suggestion (`SUGGESTION_RULE`): the rate where the smoothed loss falls fastest against log(rate). The loss is
smoothed by a centred mean over `window` steps, which does not lag: an exponential average (fastai's beta 0.98)
lags by tens of steps, that is by orders of magnitude of rate, and pushes the steepest point past the divergence.
Only points after the first `skip_start` share of the steps (where the loss barely moves and noise decides)
and up to the lowest smoothed loss count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from framework.engine.tuning import Stepper, restored
from framework.errors import NonFiniteError, PlaitError
from framework.task import Batch

SUGGESTION_RULE = (
    "suggested rate: where the smoothed loss (centred mean over {window} steps) falls fastest against log(rate), "
    "between the first {skip:.0%} of the steps and the lowest smoothed loss"
)


@dataclass(frozen=True)
class LRRange:
    """How the range test sweeps: the rates, the number of steps, when the loss counts as diverged."""

    min_lr: float = 1e-7
    max_lr: float = 10.0
    steps: int = 100
    window: int = 5  # steps in the centred mean that smooths the loss (odd)
    diverge: float = 4.0  # stop when the mean of the last `window` losses exceeds this many times its lowest
    skip_start: float = 0.1  # share of the first steps the suggestion ignores

    def check(self) -> None:
        """Refuse settings the test cannot run with, naming the option to change."""
        if not 0 < self.min_lr < self.max_lr:
            raise PlaitError(f"min_lr={self.min_lr:g}, max_lr={self.max_lr:g}: need 0 < min_lr < max_lr")
        if self.steps < 10:
            raise PlaitError(f"steps={self.steps}: the range test needs at least 10 steps (100 is usual)")
        if self.diverge <= 1:
            raise PlaitError(f"diverge={self.diverge:g}: must be above 1 (4 is usual)")
        if self.window < 1 or self.window % 2 == 0:
            raise PlaitError(f"window={self.window}: must be an odd number of steps (5 is usual)")

    def rate(self, i: int) -> float:
        """The rate of step `i` (0-based): geometric from min_lr to max_lr."""
        return float(self.min_lr * (self.max_lr / self.min_lr) ** (i / (self.steps - 1)))

    @property
    def rule(self) -> str:
        """The suggestion rule in words, with these settings."""
        return SUGGESTION_RULE.format(window=self.window, skip=self.skip_start)


@dataclass
class LRCurve:
    """What the range test measured: the rate and loss of each step taken, the smoothed loss, the suggestion."""

    settings: LRRange
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float | None = None
    suggestion_index: int | None = None
    stopped: str = ""  # why the test ended

    def rows(self) -> list[dict[str, float]]:
        """One row per step: step, lr, loss, smoothed loss (for CSV)."""
        return [
            {"step": i + 1, "lr": lr, "loss": loss, "smoothed_loss": smooth}
            for i, (lr, loss, smooth) in enumerate(zip(self.lrs, self.losses, self.smoothed, strict=True))
        ]


def centred_mean(values: list[float], window: int) -> list[float]:
    """Each value replaced by the mean of the `window` values centred on it (fewer at the ends)."""
    half = window // 2
    out = []
    for i in range(len(values)):
        part = values[max(0, i - half) : i + half + 1]
        out.append(float(sum(part) / len(part)))
    return out


def steepest_descent(lrs: list[float], smoothed: list[float], skip_start: float) -> int | None:
    """Index of the most negative slope d(smoothed)/d(log10 lr) between the first `skip_start` share of the
    points and the lowest smoothed loss; None when the loss never falls there."""
    if len(lrs) < 3:
        return None
    lowest = int(np.argmin(smoothed))
    start = max(1, math.floor(skip_start * len(lrs)))
    if lowest - start < 1:
        return None
    slope = np.gradient(np.asarray(smoothed), np.log10(np.asarray(lrs)))
    index = start + int(np.argmin(slope[start : lowest + 1]))
    return index if slope[index] < 0 else None


def set_rate(optimizer: torch.optim.Optimizer, lr: float, ratios: list[float]) -> None:
    """Every parameter group at `lr`, times its ratio to the first group (per-group rates keep their proportion)."""
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        group["lr"] = lr * ratio


def group_ratios(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each group's configured rate (before a scheduler's warmup scaled it) over the first group's."""
    rates = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
    base = rates[0] or 1.0
    return [r / base if base else 1.0 for r in rates]


def range_test(step: Callable[[], float], optimizer: torch.optim.Optimizer, settings: LRRange) -> LRCurve:
    """Run `step()` (one optimizer step, returning its loss) at each rate of `settings` until the loss diverges;
    the curve with its suggestion. Changes the weights: `find_lr` restores them."""
    settings.check()
    curve, ratios = LRCurve(settings), group_ratios(optimizer)
    lowest_trailing = math.inf
    for i in range(settings.steps):
        lr = settings.rate(i)
        set_rate(optimizer, lr, ratios)
        try:
            loss = step()
        except NonFiniteError as exc:  # a loss-scaling strategy gave up
            curve.stopped = f"diverged at lr={lr:.3g}: {exc}"
            break
        if not math.isfinite(loss):
            curve.stopped = f"diverged at lr={lr:.3g}: the loss is non-finite"
            break
        curve.lrs.append(lr)
        curve.losses.append(loss)
        trailing = float(np.mean(curve.losses[-settings.window :]))
        if len(curve.losses) >= settings.window:
            lowest_trailing = min(lowest_trailing, trailing)
            if trailing > settings.diverge * lowest_trailing:
                curve.stopped = (
                    f"diverged at lr={lr:.3g}: the mean of the last {settings.window} losses ({trailing:.4g}) is "
                    f"above {settings.diverge:g}x its lowest ({lowest_trailing:.4g})"
                )
                break
    else:
        curve.stopped = f"reached max_lr={settings.max_lr:g} without diverging"
    curve.smoothed = centred_mean(curve.losses, settings.window)
    index = steepest_descent(curve.lrs, curve.smoothed, settings.skip_start)
    if index is not None:
        curve.suggestion, curve.suggestion_index = curve.lrs[index], index
    return curve


def find_lr(stepper: Stepper, settings: LRRange) -> LRCurve:
    """The range test on the stepper's model, data, precision and optimizer; everything it changed is restored
    afterwards (weights, optimizer and precision state, random state), also when it fails or is interrupted."""
    batches: Iterator[Batch] = stepper.batches()

    def one_step() -> float:
        loss, _, _ = stepper.step(batches)
        return float(loss)

    with restored(stepper):
        return range_test(one_step, stepper.optimizer, settings)
