"""`trainer.profiler`: torch.profiler over a window of steps, and where a step's time goes.

The window is `{wait, warmup, active}` optimizer steps from the start of `fit` (torch.profiler's schedule, once).
When the active steps are recorded, `profile/` in the run directory gets:

- `plait.rank<r>.pt.trace.json`: a Chrome trace (`chrome://tracing`, https://ui.perfetto.dev, and TensorBoard's
  profiler plugin with `tensorboard --logdir <run>/profile`), with the step phases as named ranges;
- `top_ops.txt`: the operators by self time (device time first on CUDA);
- `phases.json`: the split of a step into data wait, forward, backward, optimizer and the precision strategy's
  bookkeeping (framework.engine.phases), with what is left over (`other`: the loop's own work between phases,
  logging, observers), in milliseconds per step. The split is the host's wall time: on CUDA the phases that
  queue kernels end before the kernels do, and the first phase that waits for the device absorbs them.

A step's measured time is torch.profiler's own `ProfilerStep#<n>` range, from one step boundary to the next.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from framework.callback import Callback, TrainState
from framework.engine import distributed
from framework.engine.config import ProfilerConfig
from framework.engine.phases import PRECISION, TOP_LEVEL

PROFILE_DIR = "profile"
PHASES_FILE = "phases.json"
TOP_OPS_FILE = "top_ops.txt"
STEP_RANGE = "ProfilerStep"  # torch.profiler names them ProfilerStep#<n> (ProfilerStep* in its tables)
TOP_ROWS = 20


def _duration_us(event: Any) -> float:
    return float(event.time_range.end - event.time_range.start)


def _owning_phase(event: Any) -> str | None:
    """The top-level phase range around a precision range; None when another precision range encloses it first
    (that one counts it) or no phase does."""
    parent = event.cpu_parent
    while parent is not None and parent.name not in (*TOP_LEVEL, PRECISION):
        parent = parent.cpu_parent
    return None if parent is None or parent.name == PRECISION else str(parent.name)


def phase_split(events: list[Any]) -> dict[str, Any]:
    """Milliseconds per step of each phase (exclusive: precision bookkeeping is taken out of the phase around
    it), the measured step time, and `other`; from a profiler's events (`prof.events()`)."""
    steps = [e for e in events if e.name.startswith(STEP_RANGE)]
    if not steps:
        raise ValueError("no ProfilerStep ranges in the recorded events: the window recorded no whole step")
    total: dict[str, float] = {name: 0.0 for name in (*TOP_LEVEL, PRECISION)}
    for event in events:
        if event.name in TOP_LEVEL:
            total[event.name] += _duration_us(event)
        elif event.name == PRECISION:
            around = _owning_phase(event)
            if around is None:
                continue
            total[PRECISION] += _duration_us(event)
            total[around] -= _duration_us(event)
    step_us = sum(_duration_us(e) for e in steps)
    n = len(steps)
    phases_ms = {name.removeprefix("plait/"): us / n / 1000 for name, us in total.items()}
    step_ms = step_us / n / 1000
    covered = sum(phases_ms.values())
    return {
        "steps": n,
        "step_ms": step_ms,
        "phases_ms": phases_ms,
        "other_ms": step_ms - covered,
        "phases_sum_ms": covered,
        "share": {name: ms / step_ms for name, ms in phases_ms.items()} if step_ms > 0 else {},
    }


def split_table(split: dict[str, Any]) -> str:
    """The phase split as aligned lines for people."""
    lines = [f"step phases over {split['steps']} profiled step(s), {split['step_ms']:.2f} ms per step:"]
    for name, ms in [*split["phases_ms"].items(), ("other", split["other_ms"])]:
        lines.append(f"  {name:<10} {ms:9.3f} ms  {100 * ms / split['step_ms']:5.1f}%")
    return "\n".join(lines)


class StepProfiler(Callback):
    """Drives torch.profiler from the loop's events and writes the trace, the operator table and the phase split."""

    def __init__(self, cfg: ProfilerConfig, run_dir: Path, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
        self.directory = run_dir / PROFILE_DIR
        self.split: dict[str, Any] | None = None  # the last window's phase split (tests read it)
        self._profiler: torch.profiler.profile | None = None
        self._first_step = 0

    def on_fit_start(self, state: TrainState) -> None:
        """Start the scheduled profiler; the window counts the steps of this fit."""
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        c = self.cfg
        self._first_step = state.step + c.wait + c.warmup + 1
        self._profiler = torch.profiler.profile(
            activities=activities,
            schedule=torch.profiler.schedule(wait=c.wait, warmup=c.warmup, active=c.active, repeat=1),
            on_trace_ready=self._write,
        )
        self._profiler.start()

    def on_step_end(self, state: TrainState) -> None:
        """One step boundary for the profiler's schedule."""
        if self._profiler is not None:
            self._profiler.step()

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """Stop the profiler (a window cut short by the end of training is written as far as it got)."""
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None
        if self.split is None and distributed.is_main():
            print(
                f"profiler: no step was recorded (trainer.max_steps ends before the window "
                f"wait={self.cfg.wait} + warmup={self.cfg.warmup} + active={self.cfg.active} closes)",
                file=sys.stderr,
            )

    def _write(self, prof: torch.profiler.profile) -> None:
        """on_trace_ready: the trace, the top operators by self time, the phase split; a summary on stderr."""
        self.directory.mkdir(parents=True, exist_ok=True)
        trace = self.directory / f"plait.rank{distributed.rank()}.pt.trace.json"
        prof.export_chrome_trace(str(trace))
        sort_by = "self_cuda_time_total" if self.device.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=sort_by, row_limit=TOP_ROWS)
        (self.directory / TOP_OPS_FILE).write_text(table + "\n", encoding="utf-8")
        try:
            split = phase_split(list(prof.events()))
        except ValueError as exc:
            print(f"profiler: {exc}", file=sys.stderr)
            return
        self.split = {**split, "first_step": self._first_step, "trace": str(trace)}
        (self.directory / PHASES_FILE).write_text(json.dumps(self.split, indent=2) + "\n", encoding="utf-8")
        if distributed.is_main():
            top = "\n".join(table.splitlines()[:13])
            print(
                f"profiler: steps {self._first_step}..{self._first_step + split['steps'] - 1} -> {trace}\n"
                f"{split_table(split)}\ntop operators by self time ({self.directory / TOP_OPS_FILE}):\n{top}",
                file=sys.stderr,
            )
