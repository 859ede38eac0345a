"""Evaluation, owned by the core: walk a split, run the task's per-batch step, reduce the partial results.

The task never sees the device, autocast or the loop; here is also the one place where partial results of
several processes will be gathered before the reduction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from framework.engine.memory import on_batch, out_of_memory
from framework.engine.weights import swapped
from framework.precision import PrecisionStrategy
from framework.task import VAL, Partials, Task, extra_val_splits

Gather = Callable[[list[Partials]], list[Partials]]  # this process's partials -> every process's partials


def to_host(value: Any) -> Any:
    """`value` with every tensor detached and moved to the CPU (partials must not pin device memory), a
    one-number tensor as a Python number.

    Why numbers: a small tensor kept per batch is a small live block in the C heap right after that batch's
    large freed activations, and glibc's allocator then could not reuse that space: an evaluation of a 1 GB
    corpus's language model grew by one logits buffer (16 MB) per batch until it was OOM-killed at 22 GB.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.item() if value.dim() == 0 else value.cpu()
    if isinstance(value, dict):
        return {k: to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_host(v) for v in value)
    return value


def single_process(partials: list[Partials]) -> list[Partials]:
    """The gather of a run on one process: its own partials."""
    return partials


def evaluate(
    model: nn.Module,
    task: Task,
    split: str,
    *,
    precision: PrecisionStrategy,
    device: torch.device,
    batch_size: int,
    gather: Gather = single_process,
    shard: tuple[int, int] = (0, 1),
    batch_key: str = "trainer.eval_batch_size",
    weights: Mapping[str, Tensor] | None = None,
) -> dict[str, float]:
    """Metrics of `model` on `split` (keys without prefix); leaves the model in the mode it was in.

    `shard=(rank, world)`: this process evaluates batches i with i % world == rank; `gather` collects them all.
    Running out of memory is one error that names `batch_key`, the setting that chose `batch_size`.
    `weights`: other weights (framework.engine.weights) swapped in for this evaluation only.
    """
    rank, world = shard
    was_training = model.training
    model.eval()
    partials: list[Partials] = []
    memory = out_of_memory(
        partial(on_batch, f"evaluating the {split} split"), device, [f"lower {batch_key} (now {batch_size})"]
    )
    try:
        with memory, swapped(model, weights), torch.no_grad(), precision.autocast():
            for batch in task.eval_rank_batches(split, batch_size=batch_size, rank=rank, world=world):
                partials.append(to_host(task.eval_step(model, batch.to(device))))
    finally:
        model.train(was_training)
    return {k: float(v) for k, v in task.reduce(gather(partials)).items()}


def evaluate_sets(model: nn.Module, task: Task, split: str, **options: Any) -> dict[str, float]:
    """Metrics of `split` as `evaluate` gives them; for the main validation split also those of each extra
    validation set `val/<name>` the task has (task.extra_val_paths), keyed `<name>/<metric>`.

    The extra sets are walked first, so that `task.details()` afterwards describes the main split."""
    extra: dict[str, float] = {}
    for other in extra_val_splits(task.splits()) if split == VAL else []:
        name = other.split("/", 1)[1]
        extra.update({f"{name}/{k}": v for k, v in evaluate(model, task, other, **options).items()})
    return {**evaluate(model, task, split, **options), **extra}


def samples(model: nn.Module, task: Task, split: str, n: int, *, precision: PrecisionStrategy) -> list[dict[str, str]]:
    """The task's `n` fixed examples of `split` with the model's outputs (Task.samples), as text; the model in
    eval mode under no_grad and the precision's autocast, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), precision.autocast():
            rows = task.samples(model, split, n)
    finally:
        model.train(was_training)
    return [{str(k): str(v) for k, v in row.items()} for row in rows[:n]]


def run_inference(precision: PrecisionStrategy, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a task's inference method (predict, translate, ...) under no_grad and the precision's autocast."""
    with torch.no_grad(), precision.autocast():
        return fn(*args, **kwargs)
