"""Running out of memory, said once and clearly: what was being allocated, what the device has, the keys to change.

An allocation that fails while the model is built, in a training step or in evaluation (CPU: torch's
`DefaultCPUAllocator: ... you tried to allocate N bytes`; CUDA: `torch.OutOfMemoryError`) becomes one
`InsufficientMemoryError` through `out_of_memory(...)`. Before a model is built, `measure_on_meta` counts its
parameters on the `meta` device (no memory used) and `check_fits` refuses one whose parameters alone exceed the
memory available, with the same message (`memory_error`).
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from framework.errors import InsufficientMemoryError
from framework.task import Batch

# what the CPU allocator (and MPS) say when an allocation fails; CUDA raises torch.OutOfMemoryError
ALLOCATOR_MESSAGES = ("DefaultCPUAllocator", "you tried to allocate", "can't allocate memory", "out of memory")
UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
SIZE_KEY = re.compile(r"^(d_\w+|n_\w*layers)$")  # the model size scheme: d_model, d_ff, d_hidden, n_layers, ...


def is_out_of_memory(exc: BaseException) -> bool:
    """True when `exc` is a failed allocation (CUDA's OutOfMemoryError, the CPU allocator's error, MemoryError)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in ALLOCATOR_MESSAGES)


def requested_bytes(exc: BaseException) -> int | None:
    """The size of the allocation that failed, when torch's message gives it."""
    text = str(exc)
    exact = re.search(r"tried to allocate (\d+) bytes", text)
    if exact:
        return int(exact.group(1))
    rounded = re.search(r"[Tt]ried to allocate ([\d.]+) ([KMGT]iB|B)", text)
    return int(float(rounded.group(1)) * UNITS[rounded.group(2)]) if rounded else None


def size_text(n_bytes: float) -> str:
    """`48.0 GiB`, `312.5 MiB`: bytes for people."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def host_memory() -> tuple[int, int] | None:
    """(available, total) bytes of RAM: from psutil when installed, else /proc/meminfo; None where neither says."""
    try:
        import psutil  # type: ignore[import-untyped]

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)
    except ImportError:
        pass
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024, int(fields["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None


def device_memory(device: torch.device) -> tuple[int, int] | None:
    """(available, total) bytes of `device`'s memory: host RAM for the CPU, the free memory of a GPU."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return int(free), int(total)
    return host_memory() if device.type == "cpu" else None


def _sentence(parts: list[str]) -> str:
    """`a, b or c.` with a capital letter."""
    text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"
    return text[:1].upper() + text[1:] + "."


def memory_error(
    what: str, device: torch.device, fixes: list[str], exc: BaseException | None = None
) -> InsufficientMemoryError:
    """The one out-of-memory message: what was being allocated, the memory `device` has, the keys to change."""
    failed = requested_bytes(exc) if exc is not None else None
    allocation = f": an allocation of {size_text(failed)} failed" if failed else ""
    memory = device_memory(device)
    has = f"{device} has {size_text(memory[0])} available of {size_text(memory[1])}" if memory else ""
    return InsufficientMemoryError(
        f"out of memory {what}{allocation}; {has or 'its memory is unknown'}. {_sentence(fixes)}"
    )


def model_fixes(model_cfg: Any, *, activations: bool = True) -> list[str]:
    """The model keys that lower its memory: its sizes (with their values), and activation checkpointing when
    `activations` are what fills it (it does nothing for the parameters themselves)."""
    sizes = [f"model.{k}={model_cfg[k]}" for k in model_cfg if SIZE_KEY.match(str(k)) and model_cfg[k] is not None]
    fixes = [f"shrink the model (now {', '.join(sizes)})" if sizes else "choose a smaller model"]
    if activations and "activation_checkpointing" in model_cfg and not model_cfg["activation_checkpointing"]:
        fixes.append("set model.activation_checkpointing=true")
    return fixes


def training_fixes(cfg: Any) -> list[str]:
    """What lowers a training step's memory: the batch (accumulation keeps its effective size), then the model."""
    t = cfg.trainer
    batch = (
        f"lower trainer.batch_size (now {t.batch_size}; raising trainer.grad_accum_steps, now {t.grad_accum_steps}, "
        "keeps the effective batch)"
    )
    return [batch, *model_fixes(cfg.model)]


@dataclass(frozen=True)
class ModelSize:
    """A model's parameter count and their bytes, as built (before a precision casts them)."""

    parameters: int
    bytes: int
    dtype: str

    def __str__(self) -> str:
        count = f"{self.parameters / 1e9:.1f} G" if self.parameters >= 1e9 else f"{self.parameters / 1e6:.1f} M"
        return f"{count} parameters ({size_text(self.bytes)} in {self.dtype})"


@contextmanager
def random_states_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's CPU random states as they were before the block, whatever it drew."""
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


def measure_on_meta(make: Callable[[], nn.Module]) -> ModelSize | None:
    """The size of the model `make()` builds, built on the `meta` device (no memory used); None when it cannot be
    built there. The random states are kept, so the real build initialises the same weights."""
    try:
        with random_states_kept(), torch.device("meta"):
            model = make()
    except Exception:  # a model that reads files or computes at init: no estimate, the real build decides
        return None
    params = list(model.parameters())
    if not params:
        return None
    n_bytes = sum(p.numel() * p.element_size() for p in params)
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params})
    return ModelSize(sum(p.numel() for p in params), n_bytes, "/".join(dtypes))


def check_fits(size: ModelSize | None, device: torch.device, fixes: list[str]) -> None:
    """Refuse, before it is built, a model whose parameters alone exceed the memory available: on the host,
    where every model is built first, and on `device`."""
    if size is None:
        return
    for where in dict.fromkeys([torch.device("cpu"), device]):
        memory = device_memory(where)
        if memory is not None and size.bytes > memory[0]:
            raise memory_error(f"for the model: its {size} do not fit", where, fixes)


def batch_in(exc: BaseException) -> Batch | None:
    """The innermost `Batch` among the locals of the frames `exc` passed through: the batch being processed
    (`task.loss(model, batch)` and `task.eval_step(model, batch)` hold it)."""
    found, tb = None, exc.__traceback__
    while tb is not None:
        found = next((v for v in tb.tb_frame.f_locals.values() if isinstance(v, Batch)), found)
        tb = tb.tb_next
    return found


def on_batch(doing: str, exc: BaseException) -> str:
    """`<doing>, on a batch of 32 examples (input_ids 32x128, labels 32)` when the failing batch is known."""
    batch = batch_in(exc)
    if batch is None:
        return doing
    shapes = ", ".join(f"{k} {'x'.join(map(str, t.shape))}" for k, t in list(batch.tensors.items())[:4])
    return f"{doing}, on a batch of {batch.n_samples} examples ({shapes})"


@contextmanager
def out_of_memory(describe: Callable[[BaseException], str], device: torch.device, fixes: list[str]) -> Iterator[None]:
    """Turn a failed allocation inside the block into one InsufficientMemoryError; `describe(exc)` says what was
    being done. The failing frames are cleared first, so their tensors are freed before memory is measured."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        what = describe(exc)
        traceback.clear_frames(exc.__traceback__)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise memory_error(what, device, fixes, exc) from None
