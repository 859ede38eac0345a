"""The named phases of a training step, as `torch.profiler` ranges (`record_function`).

The trainer wraps its data wait, forward, backward and optimizer step in `phase(...)`; the precision strategies
wrap their bookkeeping (loss scaling, unscaling and finite checks, master-weight copies, numerics probes) in
`precision_phase()`, which nests inside backward or the optimizer step. The ranges cost nothing unless a profiler
records (`trainer.profiler`, framework.engine.profiling, or a user's own `torch.profiler.profile`): then each is one
`record_function`, named `plait/<phase>` in the trace and in the profiler's tables.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import torch

DATA = "plait/data_wait"  # the next batch: from the loader (or the prefetch queue) to the device
FORWARD = "plait/forward"  # task.loss under the precision's autocast
BACKWARD = "plait/backward"  # precision.backward: loss scaling and autograd
OPTIMIZER = "plait/optimizer"  # precision.step: clipping, the update, zeroing gradients
PRECISION = "plait/precision"  # the strategy's bookkeeping, nested inside backward or the optimizer step
TOP_LEVEL = (DATA, FORWARD, BACKWARD, OPTIMIZER)  # disjoint ranges, one after the other in every step


def phase(name: str) -> AbstractContextManager[Any]:
    """A `record_function` range called `name` while a profiler records, else a no-op."""
    if torch.autograd.profiler._is_profiler_enabled:  # set by every torch profiler while it records
        return torch.profiler.record_function(name)
    return contextlib.nullcontext()


def precision_phase() -> AbstractContextManager[Any]:
    """The range of a precision strategy's bookkeeping (loss scaling, finite checks, master copies)."""
    return phase(PRECISION)
