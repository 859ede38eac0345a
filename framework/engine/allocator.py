"""Whether a CPU run keeps freed tensor memory for reuse (`trainer.cpu_allocator`).

A training step allocates and frees the same large buffers every step: activations, gradients, batches.
glibc's malloc serves blocks above its mmap threshold (128 KiB, adapting up to 32 MiB) with fresh `mmap`
calls and hands the top of its heap back to the kernel once more than its trim threshold is free there, so
every step faults its buffers in again (pages the kernel must zero) and unmaps them after — on a virtual
machine each fault is a trap to the hypervisor. `keep` raises both thresholds once, so freed blocks stay in
the process and the next step reuses them: what CUDA's caching allocator does on GPUs, and what PyTorch's
CPU launcher (`torch.backends.xeon.run_cpu`) gets by preloading jemalloc or tcmalloc. Peak memory does not
change (a step needs its buffers either way); memory freed after a peak stays with the process.
Measurements: docs/performance.md ("Keeping freed memory on CPU").
"""

from __future__ import annotations

import ctypes
import platform
from dataclasses import dataclass

SETTINGS = ("auto", "keep", "system")

# mallopt(3) parameters (malloc.h) and the values `keep` sets
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_MMAP_THRESHOLD = 64 << 20  # blocks up to 64 MiB come from the heap (reused), larger ones from mmap
KEEP_TRIM_THRESHOLD = 1 << 30  # up to 1 GiB free at the heap's top stays in the process


@dataclass(frozen=True)
class AllocatorChoice:
    """What `trainer.cpu_allocator` did, and why: printed at start and recorded with the run."""

    kept: bool
    reason: str


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose mallopt takes these parameters); None elsewhere (macOS, musl)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def apply_cpu_allocator(setting: str, device_type: str) -> AllocatorChoice:
    """Apply `trainer.cpu_allocator` for a run on `device_type`: `auto` keeps freed memory on CPU under glibc,
    `keep` asks for it anywhere glibc is, `system` leaves malloc's defaults."""
    if setting == "system":
        return AllocatorChoice(False, "system malloc defaults (trainer.cpu_allocator=system)")
    if setting == "auto" and device_type != "cpu":
        return AllocatorChoice(False, f"system malloc defaults (tensors live on {device_type})")
    libc = glibc()
    if libc is None:
        return AllocatorChoice(False, "system malloc defaults (the C library is not glibc)")
    mmap_ok = libc.mallopt(M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD)
    trim_ok = libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)
    if not (mmap_ok and trim_ok):
        return AllocatorChoice(False, "system malloc defaults (glibc refused the thresholds)")
    return AllocatorChoice(True, "freed memory kept for reuse (glibc mmap threshold 64 MiB, trim threshold 1 GiB)")
