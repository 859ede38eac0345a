"""The batch-size finder: the largest batch that fits, and the fastest, with the run's own model, data, precision
strategy and optimizer.

Search (`search_largest`): powers of two from 1 until a batch does not fit, then a binary search between the last
that fitted and the first that did not, down to one sample. Each candidate takes a few real optimizer steps
(`steps`; the first is not timed) on the heaviest batches of that size (most elements, padding included, among the
first `SCANNED` of an epoch: with length-bucketed batches the memory of a step depends on which batch it is) and
reports its throughput on them and its peak memory.

What "fits" means:
- CUDA: the steps ran without an out-of-memory error (`framework.engine.memory.is_out_of_memory`, the same
  handling the trainer uses; the failed allocation's frames are cleared and the cache emptied), and, when a budget
  is given, the peak allocated memory stayed within it.
- CPU, where an allocation rarely fails cleanly (the system swaps or kills the process first): the peak resident
  memory of the whole process (torch, the data, model, optimizer state and the step's activations: what a
  training process holds) stays within a budget, by default 80% of the memory available when the search starts.
  Peak resident memory only grows, and a process that has run many shapes keeps more (allocator caches, freed
  memory not handed back), so each candidate is judged as a fresh training process would see it: the resident
  memory after the build and one step (torch, data, model, optimizer state) plus the rise of the peak during the
  candidate's own steps. For that rise, freed memory is handed back to the system (`malloc_trim`) and Linux's
  high-water mark is reset to the current resident size (`/proc/self/clear_refs`, value 5) before each candidate;
  `VmHWM - VmRSS` in `/proc/self/status` is then measured by the kernel.
  A candidate whose peak, extrapolated linearly from the two largest that fitted, exceeds the memory available
  is not run at all (it could only fail, or bring in the OOM killer).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import heapq
import itertools
import math
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from framework.engine.memory import host_memory, is_out_of_memory, size_text
from framework.engine.tuning import Stepper
from framework.errors import PlaitError
from framework.task import Batch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
SCANNED = 256  # batches of an epoch searched for the heaviest, per candidate
DEFAULT_SHARE = 0.8  # of the memory available at the start: the CPU budget when none is given
SIZE = re.compile(r"^\s*([\d.]+(?:e\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30}
SIZE_UNITS["tib"] = 2**40


def parse_size(text: str) -> int:
    """`1GB` (10^9), `512MiB` (2^29), `2e9` (bytes), `60%` (of the memory available now) as bytes."""
    text = text.strip()
    if text.endswith("%"):
        memory = host_memory()
        share = float(text[:-1]) / 100
        if memory is None or not 0 < share <= 1:
            raise PlaitError(f"budget={text}: a share needs 0-100% and a system that reports its memory")
        return int(memory[0] * share)
    found = SIZE.match(text)
    if not found:
        raise PlaitError(f"budget={text}: give a size such as 1GB, 512MiB, 2e9 (bytes) or 60% (of available memory)")
    return int(float(found.group(1)) * SIZE_UNITS[(found.group(2) or "b").lower()])


def search_largest(fits: Callable[[int], bool], *, cap: int) -> int:
    """The largest n in 1..cap with `fits(n)`, for a `fits` true up to some n and false above: powers of two until
    one does not fit (or cap), then a binary search between the last that fitted and the first that did not.
    0 when even 1 does not fit."""
    good, bad, n = 0, cap + 1, 1
    while good < cap:
        n = min(n, cap)
        if not fits(n):
            bad = n
            break
        good, n = n, 2 * n
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return good


class PeakMeter:
    """The peak memory of one candidate: CUDA's peak allocated bytes, or the process's peak resident memory."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cpu":
            try:
                CLEAR_REFS.write_text("5")
            except OSError as exc:
                raise PlaitError(
                    f"measuring peak memory per batch on the CPU needs Linux's {CLEAR_REFS} (reset of the peak resident "
                    f"size), which is not writable here ({exc.strerror or exc}); run on a GPU (trainer.device=cuda)"
                ) from None

        self.baseline = self.at_reset = 0

    def start(self) -> None:
        """Take the memory in use now (after the build and one step) as the baseline of every candidate."""
        gc.collect()
        trim_heap()
        if self.device.type == "cpu":
            self.baseline = process_memory("VmRSS")

    def reset(self) -> None:
        """Free what can be freed, and start a new peak from the memory in use now."""
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        trim_heap()
        CLEAR_REFS.write_text("5")
        self.at_reset = process_memory("VmRSS")

    def peak(self) -> int:
        """Bytes at the peak since `reset()`: CUDA's peak allocated; on the CPU the baseline plus the rise of the
        process's peak resident memory since `reset()`."""
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return self.baseline + max(0, process_memory("VmHWM") - self.at_reset)


def process_memory(field: str) -> int:
    """A memory line of /proc/self/status in bytes: VmRSS (resident now), VmHWM (peak resident)."""
    found = re.search(rf"{field}:\s+(\d+)\s+kB", STATUS.read_text())
    if not found:
        raise PlaitError(f"{STATUS} has no {field} line: peak memory cannot be measured here")
    return int(found.group(1)) * 1024


def trim_heap() -> None:
    """Hand memory the C allocator keeps free back to the system (glibc's malloc_trim; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Probe:
    """One candidate batch: whether it fits, its peak memory and its throughput (units of the task per second)."""

    batch: int
    fits: bool
    peak_bytes: int | None = None
    per_s: float | None = None
    note: str = ""


@dataclass
class BatchSearch:
    """The probes in the order taken, the largest batch that fits, the budget it was judged by."""

    probes: list[Probe] = field(default_factory=list)
    largest: int = 0
    budget: int | None = None
    unit: str = "samples"  # the task's throughput unit: tokens or samples

    @property
    def fastest(self) -> Probe | None:
        """The fitting candidate with the highest throughput."""
        timed = [p for p in self.probes if p.fits and p.per_s]
        return max(timed, key=lambda p: p.per_s or 0.0) if timed else None


def heaviest_batches(stepper: Stepper, n: int) -> list[Batch]:
    """The `n` training batches with the most elements (padding included) among the first `SCANNED` of an epoch
    at the stepper's batch size: a padded batch of long examples needs the most memory, and a training run meets
    it sooner or later. Tasks with fixed shapes give their first `n`."""
    epoch = stepper.task.batches("train", batch_size=stepper.batch_size, epoch_seed=stepper.seed)
    scanned = itertools.islice(epoch, SCANNED)
    heaviest = heapq.nlargest(n, scanned, key=lambda b: sum(t.numel() for t in b.tensors.values()))
    if not heaviest:
        raise PlaitError("the training split produced no batch; check the task's training data")
    if max(b.n_samples for b in heaviest) < stepper.batch_size:
        raise DataTooSmall(max(b.n_samples for b in heaviest))
    return heaviest


def run_steps(stepper: Stepper, batch: int, steps: int, unit: str) -> float:
    """`steps` optimizer steps at `batch` on its heaviest batches (the first step not timed); units per second
    over the timed ones."""
    stepper.batch_size, stepper.accum = batch, 1
    chosen = heaviest_batches(stepper, steps)
    batches = itertools.cycle(chosen)
    units, start = 0, 0.0
    for i in range(steps):
        if i == 1:
            sync(stepper.device)
            start = time.perf_counter()
        loss, last, _ = stepper.step(batches)
        if i >= 1:
            units += last.n_tokens if unit == "tokens" else last.n_samples
    float(loss)  # waits for the device, as sync does
    sync(stepper.device)
    return units / (time.perf_counter() - start)


class DataTooSmall(Exception):
    """The training split cannot fill a batch this large."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.n = n


def sync(device: torch.device) -> None:
    """Wait for the device (honest timing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(stepper: Stepper) -> None:
    """One step at batch 1, so the optimizer state exists before the baseline is taken (an out-of-memory error
    here is left to the search: batch 1 will not fit)."""
    stepper.batch_size, stepper.accum = 1, 1
    fits_in_memory(lambda: stepper.step(stepper.batches()), stepper.device)


def fits_in_memory(run: Callable[[], object], device: torch.device) -> bool:
    """Run `run()`: False when an allocation failed (`is_out_of_memory`; the failing frames are cleared and the
    CUDA cache emptied, so the memory is free for the next try), True when it finished."""
    try:
        run()
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        traceback.clear_frames(exc.__traceback__)
        del exc
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return False
    return True


def extrapolated(fitted: list[Probe], batch: int) -> float | None:
    """The peak memory expected at `batch`, on the line through the two largest fitting batches measured."""
    points = sorted((p.batch, p.peak_bytes) for p in fitted if p.peak_bytes is not None)
    if len(points) < 2:
        return None
    (b1, m1), (b2, m2) = points[-2], points[-1]
    return m2 + (m2 - m1) / (b2 - b1) * (batch - b2)


def find_batch_size(
    stepper: Stepper,
    *,
    budget: int | None = None,
    steps: int = 4,
    max_batch: int = 4096,
    on_probe: Callable[[Probe], None] | None = None,
) -> BatchSearch:
    """The largest batch (up to `max_batch` and the training examples) that fits, with every probe measured.
    `budget`: bytes of peak memory allowed (CPU default: 80% of the memory available now; CUDA default: none,
    out-of-memory errors decide). `on_probe` hears each probe as it is measured (progress)."""
    if steps < 2:
        raise PlaitError(f"steps={steps}: each candidate needs at least 2 steps (the first is not timed)")
    device = stepper.device
    meter = PeakMeter(device)
    available = host_memory() if device.type == "cpu" else None
    if budget is None and available is not None:
        budget = int(DEFAULT_SHARE * available[0])
    n_train = stepper.task.num_examples("train")
    cap = min(max_batch, n_train) if n_train else max_batch
    result = BatchSearch(budget=budget, unit=stepper.task.throughput_unit)
    warm_up(stepper)
    meter.start()

    def fits(batch: int) -> bool:
        probe = measure(batch)
        result.probes.append(probe)
        if on_probe is not None:
            on_probe(probe)
        return probe.fits

    def measure(batch: int) -> Probe:
        expected = extrapolated([p for p in result.probes if p.fits], batch)
        if available is not None and expected is not None and expected > available[0]:
            return Probe(batch, False, None, None, f"not run: ~{size_text(expected)} expected, more than available")
        meter.reset()
        speed: list[float] = []
        try:
            if not fits_in_memory(lambda: speed.append(run_steps(stepper, batch, steps, result.unit)), device):
                return Probe(batch, False, None, None, "out of memory")
        except DataTooSmall as exc:
            return Probe(batch, False, None, None, f"the training split fills only {exc.n} per batch")
        per_s, peak = speed[0], meter.peak()
        if budget is not None and peak > budget:
            return Probe(batch, False, peak, per_s, f"over the budget of {size_text(budget)}")
        return Probe(batch, True, peak, per_s)

    result.largest = search_largest(fits, cap=cap)
    return result


def accumulation_for(wanted: int, largest: int) -> tuple[int, int]:
    """(batch, accumulation steps) giving the effective batch `wanted` with batches of at most `largest`: the
    fewest steps that divide `wanted` exactly, unless that halves the batch, then the fewest steps that cover it."""
    if wanted <= largest:
        return wanted, 1
    covering = math.ceil(wanted / largest)
    for accum in range(covering, wanted + 1):
        if wanted % accum == 0 and wanted // accum >= largest / 2:
            return wanted // accum, accum
        if wanted // accum < largest / 2:
            break
    return math.ceil(wanted / covering), covering
