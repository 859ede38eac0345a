"""How many CPU threads a run uses: the CPUs this process may run on, shared fairly with its neighbours.

torch's default (one thread per core, OpenMP threads spinning while they wait) collapses 5-8x as soon as
another busy process shares the cores. `plan_threads` divides the CPUs in this process's affinity among
the processes known to share them (local ranks: LOCAL_WORLD_SIZE; parallel sweep trials:
PLAIT_CONCURRENT_TRIALS, set by a parallel launcher preset) unless the user fixed the number
(`trainer.num_threads=<int>` or OMP_NUM_THREADS). `apply_threads` sets intra- and inter-op threads once,
before the first tensor operation. `prepare_environment` (called by the CLI before torch is imported) sets
the OpenMP wait policy, which torch reads only at start-up; docs/performance.md has the measurements.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import MutableMapping
from dataclasses import dataclass

CONCURRENT_TRIALS_ENV = "PLAIT_CONCURRENT_TRIALS"
# Environment torch's OpenMP runtime reads once at start-up; set only where the user has not.
EARLY_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}

_interop_set = False


@dataclass(frozen=True)
class ThreadPlan:
    """Intra-op threads (`n`), inter-op threads, and why: printed at start and recorded with the run."""

    n: int
    interop: int
    reason: str


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
    from framework.registry import PlaitError

    environ = os.environ if environ is None else environ
    if isinstance(setting, int) or str(setting).isdigit():
        n = int(setting)
        if n < 1:
            raise PlaitError(f"trainer.num_threads={setting}: use a positive integer or auto")
        return ThreadPlan(n, n, f"trainer.num_threads={n}")
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
    return ThreadPlan(n, n, f"{reason} -> {n} thread{'s' if n > 1 else ''}")


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


def prepare_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Set the OpenMP settings torch reads at start-up (where the user has not): call before importing torch."""
    environ = os.environ if environ is None else environ
    for key, value in EARLY_ENV.items():
        environ.setdefault(key, value)
