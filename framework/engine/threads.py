"""How many CPU threads a run uses: the CPUs this process may run on, shared fairly with its neighbours.

torch's default (one thread per core, OpenMP threads spinning while they wait) is the fastest a lone job
can be, and collapses 5-40x as soon as another busy process shares the cores: a spinning thread waits for
a partner that the scheduler has parked. `plan_threads` divides the CPUs in this process's affinity among
the processes known to share them (local ranks: LOCAL_WORLD_SIZE; parallel sweep trials:
PLAIT_CONCURRENT_TRIALS, set by a parallel launcher preset) unless the user fixed the number
(`trainer.num_threads=<int>`, lowered with a warning to the CPUs in the affinity, or OMP_NUM_THREADS).
`apply_threads` sets intra- and inter-op threads once, before the first tensor operation. For neighbours nobody announced, `ThreadGovernor` watches how much CPU
time other processes take on those CPUs and keeps the thread count to what they leave free (never above the
plan); docs/performance.md has the measurements.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

CONCURRENT_TRIALS_ENV = "PLAIT_CONCURRENT_TRIALS"
PROC_STAT = Path("/proc/stat")

_interop_set = False


@dataclass(frozen=True)
class ThreadPlan:
    """Intra-op threads (`n`), inter-op threads, and why: printed at start and recorded with the run.

    `adaptive`: nobody fixed the number, so a `ThreadGovernor` may lower it while neighbours are busy."""

    n: int
    interop: int
    reason: str
    adaptive: bool = False
    warning: str | None = None  # a one-line warning to show (a requested count lowered to the usable CPUs)


def affinity_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _positive_int(environ: MutableMapping[str, str], key: str) -> int | None:
    value = environ.get(key, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def plan_threads(setting: int | str = "auto", environ: MutableMapping[str, str] | None = None) -> ThreadPlan:
    """Threads for this process: `setting` (an int, or "auto": affinity CPUs / processes sharing them)."""
    from framework.errors import PlaitError

    environ = os.environ if environ is None else environ
    if isinstance(setting, int) or str(setting).isdigit():
        n = int(setting)
        if n < 1:
            raise PlaitError(f"trainer.num_threads={setting}: use a positive integer or auto")
        return _at_most_cpus(n)
    if setting != "auto":
        raise PlaitError(f"trainer.num_threads={setting!r}: use a positive integer or auto")
    user = _positive_int(environ, "OMP_NUM_THREADS")
    if user is not None:
        return ThreadPlan(user, user, f"OMP_NUM_THREADS={user}")
    cpus = affinity_cpus()
    sharers = {"local ranks": _positive_int(environ, "LOCAL_WORLD_SIZE") or 1}
    sharers["parallel trials"] = _positive_int(environ, CONCURRENT_TRIALS_ENV) or 1
    processes = sharers["local ranks"] * sharers["parallel trials"]
    n = max(1, cpus // processes)
    shared = ", ".join(f"{v} {k}" for k, v in sharers.items() if v > 1)
    reason = f"{cpus} CPUs in affinity" + (f" / ({shared})" if shared else "")
    return ThreadPlan(n, n, f"{reason} -> {n} thread{'s' if n > 1 else ''}", adaptive=n > 1)


def _at_most_cpus(n: int) -> ThreadPlan:
    """The plan for `trainer.num_threads=n`, lowered (with a warning) to the CPUs this process may run on:
    threads beyond the cores only wait for each other (999 threads on 2 cores ran ~30x slower)."""
    cpus = affinity_cpus()
    if n <= cpus:
        return ThreadPlan(n, n, f"trainer.num_threads={n}")
    warning = (
        f"trainer.num_threads={n} is more than the {cpus} CPU(s) this process may use; using {cpus} "
        "(more threads than cores only wait for each other)"
    )
    return ThreadPlan(cpus, cpus, f"trainer.num_threads={n} lowered to the {cpus} usable CPUs", warning=warning)


def apply_threads(plan: ThreadPlan) -> ThreadPlan:
    """Set torch's intra-op threads, and inter-op threads where torch still allows it (once per process)."""
    global _interop_set
    import torch

    torch.set_num_threads(plan.n)
    if not _interop_set:
        with contextlib.suppress(RuntimeError):  # parallel work already started, or set before: keep torch's
            torch.set_num_interop_threads(plan.interop)
        _interop_set = True
    return plan


@dataclass(frozen=True)
class CpuTimes:
    """A reading of the clocks the governor compares: wall seconds, busy CPU-seconds of the CPUs this process
    may use (everyone's, steal included), and this process's own CPU-seconds."""

    wall: float
    busy: float
    own: float


def read_cpu_times(cpus: frozenset[int], stat: Path = PROC_STAT) -> CpuTimes | None:
    """Busy time of `cpus` from /proc/stat and this process's CPU time now; None where /proc/stat is missing."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in values[:8])
            ticks += user + nice + system + irq + softirq + steal  # guest time is already inside user
    return CpuTimes(time.monotonic(), ticks / os.sysconf("SC_CLK_TCK"), time.process_time())


class ThreadGovernor:
    """Keeps torch's intra-op threads between 1 and the plan at the CPUs other processes leave free.

    Checked from the training loop (`tick`, nearly free between checks) once per `interval_s`: the CPU time
    other processes used on this process's CPUs in that interval, in cores, is subtracted from the CPU count.
    Fewer threads apply at once (a spinning pool collapses within milliseconds); more only after `patience`
    intervals in a row agree, so two jobs that both stepped down do not climb back into each other.
    """

    def __init__(
        self,
        plan: ThreadPlan,
        *,
        cpus: frozenset[int] | None = None,
        interval_s: float = 1.0,
        patience: int = 2,
        read: Callable[[], CpuTimes | None] | None = None,
        set_threads: Callable[[int], None] | None = None,
    ) -> None:
        import torch

        self.ceiling = plan.n
        self.threads = plan.n
        self.cpus = cpus if cpus is not None else frozenset(os.sched_getaffinity(0))
        self.interval_s = interval_s
        self.patience = patience
        self._read = read if read is not None else (lambda: read_cpu_times(self.cpus))
        self._set = set_threads if set_threads is not None else torch.set_num_threads
        self._last = self._read()
        self._next = time.monotonic() + interval_s
        self._wants_more = 0
        self.others = 0.0  # cores other processes kept busy in the last interval

    def tick(self) -> str | None:
        """Between checks: one clock read. At a check: maybe change the thread count; returns a line saying so."""
        if time.monotonic() < self._next or self._last is None:
            return None
        now = self._read()
        if now is None:
            return None
        elapsed = now.wall - self._last.wall
        self.others = max(0.0, (now.busy - self._last.busy) - (now.own - self._last.own)) / max(elapsed, 1e-9)
        self._last, self._next = now, now.wall + self.interval_s
        free = round(len(self.cpus) - self.others)
        target = max(1, min(self.ceiling, free))
        self._wants_more = self._wants_more + 1 if target > self.threads else 0
        if target < self.threads or self._wants_more >= self.patience:
            before, self.threads, self._wants_more = self.threads, target, 0
            self._set(target)
            return (
                f"threads: {before} -> {target} (other processes kept {self.others:.1f} of "
                f"{len(self.cpus)} CPUs busy over the last {elapsed:.1f} s)"
            )
        return None

    def tick_and_say(self, step: int, *, loud: bool) -> None:
        """`tick()`, printing the line of a change at `step` when `loud` (the main process)."""
        change = self.tick()
        if change is not None and loud:
            print(f"step {step}: {change}", flush=True)


def governor_for(plan: ThreadPlan) -> ThreadGovernor | None:
    """A governor for an adaptive plan on a system that reports CPU times (Linux), else None."""
    if not plan.adaptive or not PROC_STAT.exists():
        return None
    return ThreadGovernor(plan)
