"""Console logger: a rich progress bar on a terminal, plain throttled lines otherwise (CI, files)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import Choice, ComponentConfig, Logger, TrainState, at_least


class ProgressBar(Choice):
    """When the console logger draws a rich progress bar (`logger.console.progress_bar`)."""

    auto = "auto"
    always = "always"
    never = "never"


STARTUP_KEY = "sys/startup_s"  # in the first logged row: seconds from process start to the end of the first step


@dataclass
class ConsoleLoggerConfig(ComponentConfig):
    """Options of the console logger."""

    progress_bar: ProgressBar = ProgressBar.auto  # auto (on a TTY) | always | never
    min_interval_s: float = 5.0  # plain mode: at most one training line per this many seconds

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 0, "min_interval_s")


def _fmt(metrics: dict[str, float], *, evaluation: bool = False) -> str:
    """`name value` pairs; an evaluation row keeps prefixes other than `val/` (`val_ema/loss`)."""
    parts = []
    for key, value in metrics.items():
        short = key if evaluation and not key.startswith("val/") else key.split("/", 1)[-1]
        parts.append(f"{short} {value:.4g}" if isinstance(value, float) else f"{short} {value}")
    return "  ".join(parts)


class ConsoleLogger(Logger):
    """Shows step, loss, lr and throughput while training; evaluation results always get a line."""

    def __init__(self, cfg: ConsoleLoggerConfig) -> None:
        self.cfg = cfg
        self.rich = cfg.progress_bar == "always" or (cfg.progress_bar == "auto" and sys.stdout.isatty())
        self._progress: Any = None
        self._task_id: Any = None
        self._last_line = 0.0

    def on_fit_start(self, state: TrainState) -> None:
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self._progress.start()
            self._task_id = self._progress.add_task("train", total=state.max_steps, completed=state.step, info="")
        else:
            print(f"training to step {state.max_steps} (starting at {state.step}); run dir {state.run_dir}", flush=True)

    def on_step_end(self, state: TrainState) -> None:
        if self._progress is not None:
            self._progress.update(self._task_id, completed=state.step)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        is_eval = not any(k.startswith("train/") for k in metrics)
        if STARTUP_KEY in metrics:  # the first row of the process: how long until the first step ended
            line = f"step {step} reached {metrics[STARTUP_KEY]:.1f} s after start (imports, data, build, first steps)"
            (self._progress.console.print if self._progress is not None else print)(line)
        if self._progress is not None:
            if is_eval:
                self._progress.console.print(f"step {step}  {_fmt(metrics, evaluation=True)}")
            else:
                keys = ("train/loss", "train/lr", "train/tokens_per_s", "train/samples_per_s")
                info = _fmt({k.split("/")[1]: metrics[k] for k in keys if k in metrics})
                self._progress.update(self._task_id, info=info)
            return
        now = time.monotonic()
        if is_eval or now - self._last_line >= self.cfg.min_interval_s:
            self._last_line = now
            print(f"step {step}  {_fmt(metrics, evaluation=is_eval)}", flush=True)

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if status != "finished":
            print(f"training {status} at step {state.step}", file=sys.stderr, flush=True)


def build_console(cfg: ConsoleLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> ConsoleLogger:
    """Progress bar on a terminal, throttled plain lines elsewhere."""
    return ConsoleLogger(cfg)
