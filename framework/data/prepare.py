"""Preparing a token store once per node: a cache hit opens it, a miss fills it under an inter-process lock.

Under torchrun every local rank asks for the same entry at once. The first takes an exclusive `flock` on a
lock file beside the entry and fills it; the others block on the lock (no CPU), then find the store complete
and open it: one tokenization per node, not one per rank. The kernel drops the lock of a killed process, so
a crashed preparer never blocks the next run, which removes its leftovers and prepares the entry again.
(`flock` is per node: ranks on other nodes sharing a network file system are not serialised by it.)
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from framework.data.store_writer import TokenStoreWriter, remove_leftovers
from framework.data.token_store import TokenStore, is_complete

log = logging.getLogger(__name__)
T = TypeVar("T")


def lock_path(entry: Path) -> Path:
    """The lock file of `entry`, beside it (it stays: removing lock files races with their users)."""
    return entry.parent / f".{entry.name}.lock"


@contextlib.contextmanager
def entry_lock(entry: Path) -> Iterator[None]:
    """Hold the exclusive lock of `entry`, waiting while another process holds it."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(entry), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process preparing %s", entry)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def prepare_entry(entry: Path, open_: Callable[[Path], T], write: Callable[[], T]) -> T:
    """The cache entry at `entry`: `open_(entry)` when complete, else `write()` (which publishes it) while this
    process holds the entry's lock, so concurrent callers on a node write it once and all open the same result."""
    entry = Path(entry)
    if is_complete(entry):
        return open_(entry)
    with entry_lock(entry):
        if is_complete(entry):  # another process wrote it while we waited
            return open_(entry)
        if removed := remove_leftovers(entry):
            log.info("removed %d unfinished preparation(s) of %s", removed, entry)
        start = time.monotonic()
        made = write()
        log.info("prepared %s in %.1f s", made, time.monotonic() - start)
        return made


def prepare_store(
    entry: Path,
    fill: Callable[[TokenStoreWriter], None],
    *,
    vocab_size: int,
    separator: int | None = None,
    describes: str = "",
) -> TokenStore:
    """The store at `entry`: opened when complete, else written by `fill(writer)` while this process holds the
    entry's lock, so concurrent callers on a node fill it once and all open the same result."""

    def write() -> TokenStore:
        with TokenStoreWriter(entry, vocab_size, separator=separator, describes=describes) as writer:
            fill(writer)  # an exception or Ctrl-C here removes what was written
            return writer.commit()

    return prepare_entry(entry, TokenStore, write)
