"""What the training rows measure: loss, LR and throughput over the window since the last row, memory, state size.

`Telemetry.row` builds a row on logging steps, the only place the loop reads device values; in between,
`Throughput` counts without syncing the host with the device.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from framework.engine import distributed, numerics
from framework.engine.threads import ThreadGovernor
from framework.precision import PrecisionStrategy


def process_age_s() -> float:
    """Seconds since this process started (from /proc on Linux; elsewhere since the engine's telemetry loaded)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in clock ticks after boot
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, IndexError, ValueError):
        return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this run: CUDA allocator peak on GPU, process peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@dataclass
class Throughput:
    """The window since the last logged row: wall time, units (tokens or samples) and summed loss."""

    start: float
    loss_sum: torch.Tensor  # on the device; read on logging steps only
    units: int = 0
    micro_batches: int = 0
    data_wait_s: float = 0.0  # seconds the loop waited for its next batch (on the device)

    def add(self, step_loss: torch.Tensor, micro_batches: int) -> None:
        """Count one optimizer step's loss (no host sync)."""
        self.loss_sum += step_loss
        self.micro_batches += micro_batches

    def rate(self) -> float:
        """Units per second since the window started."""
        return self.units / max(time.perf_counter() - self.start, 1e-9)

    def data_wait_share(self) -> float:
        """The share of the window's wall time spent waiting for data, in [0, 1]."""
        return min(1.0, self.data_wait_s / max(time.perf_counter() - self.start, 1e-9))

    def reset(self) -> None:
        """Start a new window now."""
        self.start, self.units, self.micro_batches, self.data_wait_s = time.perf_counter(), 0, 0, 0.0
        self.loss_sum.zero_()


class Telemetry:
    """One Trainer's training rows: the throughput window, memory, and the state size (measured once)."""

    def __init__(
        self, device: torch.device, model: nn.Module, optimizer: torch.optim.Optimizer, precision: PrecisionStrategy
    ) -> None:
        self.device, self.model, self.optimizer, self.precision = device, model, optimizer, precision
        self.window = Throughput(0.0, torch.zeros((), device=device))
        self._state_mb: float | None = None  # see state_megabytes

    def start(self, now: float) -> None:
        """Open the first window at `now`; count peak memory from here (per run, also for several in one process)."""
        self.window = Throughput(now, torch.zeros((), device=self.device))
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def state_megabytes(self) -> float:
        """Parameters, buffers, optimizer state and precision state (master weights, compensation), in MiB.

        Measured once, on the first logging step (after the first update, all state exists), then reused.
        """
        if self._state_mb is None:
            held = [self.model.state_dict(), self.optimizer.state_dict()["state"], self.precision.state_dict()]
            self._state_mb = numerics.tensor_megabytes(numerics.nested_tensors(held))
        return self._state_mb

    def row(
        self, unit: str, epoch: int, elapsed_s: Callable[[], float], governor: ThreadGovernor | None, *, first: bool
    ) -> dict[str, float]:
        """The window's training row: train/*, sys/* and precision/* (reads device values; call on every rank).

        `unit`: the task's throughput unit; `first`: the first row of this process, which adds `sys/startup_s`.
        """
        window = self.window
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # honest timing on logging steps only
        row = {
            "train/loss": distributed.mean(window.loss_sum).item() / window.micro_batches,
            "train/lr": self.optimizer.param_groups[0]["lr"],
            f"train/{unit}_per_s": window.rate(),
            "train/epoch": epoch,
            "sys/elapsed_s": elapsed_s(),
            "sys/peak_memory_mb": peak_memory_mb(self.device),
            "sys/state_mb": self.state_megabytes(),
            "sys/data_wait_share": window.data_wait_share(),
        }
        if governor is not None:
            row["sys/threads"] = governor.threads
            row["sys/cpu_neighbours"] = governor.others
        if first:  # how long start-up took
            row["sys/startup_s"] = process_age_s()
        row.update({f"precision/{k}": v for k, v in self.precision.metrics().items()})
        return row
