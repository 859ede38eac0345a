"""Batches prepared ahead of the training step, in a background thread, so the step does not wait for data.

The producer runs `task.batches` (reading, tokenising, collating) and, on CUDA, copies each batch into
pinned host memory, while the main thread trains on the previous batch: torch releases the GIL inside its
kernels, so Python-side batch preparation overlaps with them. At most `depth` batches wait in the queue.

Each item carries the data position *after* it (`epoch`, `batch_in_epoch`), so the trainer's state says
what the consumed stream gives next, never how far the producer has read ahead: a checkpoint resumes
exactly. An exception in the producer is raised in the consumer at the batch where it happened.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

import torch

from framework.task import Batch

CUDA_DEPTH = 2  # `trainer.prefetch_batches=null` on CUDA

T = TypeVar("T")
_POLL_S = 0.1  # how often a blocked producer checks whether it was closed


def prefetch_depth(setting: int | None, device: torch.device) -> int:
    """`trainer.prefetch_batches` resolved: null gives 2 on CUDA, 0 on CPU, where the thread measured slower
    than preparing batches inline (it contends for the GIL with the loop; docs/performance.md "Fast path")."""
    if setting is not None:
        return setting
    return CUDA_DEPTH if device.type == "cuda" else 0


def pinned(batch: Batch) -> Batch:
    """The batch in page-locked host memory, so that `Batch.to(cuda)` (non_blocking) copies asynchronously."""
    tensors = {k: v.pin_memory() if v.device.type == "cpu" else v for k, v in batch.tensors.items()}
    return dataclasses.replace(batch, tensors=tensors)


class _Failed:
    """The producer's exception, passed through the queue to be raised by the consumer."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(Generic[T]):
    """Iterate `source` in a daemon thread, `depth` items ahead; `close()` (or the context manager) stops it."""

    def __init__(self, source: Iterator[T], depth: int, *, name: str = "plait-prefetch") -> None:
        if depth < 1:
            raise ValueError(f"prefetch depth must be >= 1, got {depth}")
        self._source = source
        self._queue: queue.Queue[T | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_Failed(StopIteration()))
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the consumer
            self._put(_Failed(exc))

    def _put(self, item: T | _Failed) -> bool:
        """Block until there is room (True) or until closed (False)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _Failed):
            self._done = True
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop the producer and wait for it (it finishes the item it is preparing, then exits)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        close = getattr(self._source, "close", None)
        if close is not None and not self._thread.is_alive():
            close()  # a generator source runs its own clean-up now, not at garbage collection

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
