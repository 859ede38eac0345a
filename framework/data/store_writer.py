"""Writing a token store batch by batch, atomically: the final name only ever holds a complete store.

The writer appends each encoded batch to files in a temporary directory beside the final one (memory stays
at one batch however large the corpus), then fsyncs them, writes the meta last and renames the directory
into place. An exception or Ctrl-C removes the temporary directory; a killed process leaves it behind under
a hidden `.<name>.tmp-*` name that no reader opens and that the next preparation removes (`remove_leftovers`).
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from framework.data.token_store import (
    META_FILE,
    OFFSET_DTYPE,
    OFFSETS_FILE,
    TOKENS_FILE,
    StoreMeta,
    TokenStore,
    is_complete,
    token_dtype,
)
from framework.errors import DataError
from framework.files import fsync_dir


def temp_prefix(path: Path) -> str:
    """The name prefix of `path`'s temporary directories (hidden, beside it)."""
    return f".{path.name}.tmp-"


def remove_leftovers(path: Path) -> int:
    """Delete the temporary directories killed writers of `path` left (call only while no writer is live)."""
    leftovers = list(path.parent.glob(temp_prefix(path) + "*")) if path.parent.is_dir() else []
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return len(leftovers)


def staging_dir(path: Path) -> Path:
    """A new hidden temporary directory beside `path` to build its content in (this process's, by name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def publish_dir(tmp: Path, path: Path, meta_json: str) -> None:
    """Write `meta_json` into `tmp` last (fsynced), then rename `tmp` into place as `path`.

    When a complete directory is already there (another writer of the same entry finished first), ours is
    dropped and that one kept; an incomplete directory under the final name is replaced."""
    with open(tmp / META_FILE, "w") as f:
        f.write(meta_json)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(tmp)
    if path.exists() and not is_complete(path):  # an old-format or foreign directory: set it aside
        stale = path.parent / f"{temp_prefix(path)}stale-{secrets.token_hex(4)}"
        os.replace(path, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(tmp, path)
    except OSError:
        if not is_complete(path):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # an equal one was published first: keep that one
    fsync_dir(path.parent)


class TokenStoreWriter:
    """Appends encoded batches to a new store for `path`; `commit()` (or leaving the `with` block) publishes it.

    `separator`: an id appended after every sequence and counted in it (an LM's end-of-text between documents).
    """

    def __init__(self, path: Path, vocab_size: int, *, separator: int | None = None, describes: str = "") -> None:
        self.path = Path(path)
        self.vocab_size = vocab_size
        self.dtype = token_dtype(vocab_size)
        if separator is not None and not 0 <= separator < vocab_size:
            raise DataError(f"separator id {separator} is outside the vocabulary (0..{vocab_size - 1})")
        self.separator = separator
        self.describes = describes
        self.extra: dict[str, Any] = {}  # recorded in the meta (set it before commit)
        self.n_sequences = 0
        self.n_tokens = 0  # ids written, those of an unfinished sequence included
        self.tmp = staging_dir(self.path)
        self._tokens = open(self.tmp / TOKENS_FILE, "wb")  # noqa: SIM115 (closed in commit / abort)
        self._offsets = open(self.tmp / OFFSETS_FILE, "wb")  # noqa: SIM115
        self._offsets.write(np.zeros(1, OFFSET_DTYPE).tobytes())
        self._open = True
        self._unfinished = False  # the last sequence goes on in the next append

    def append(self, seqs: Sequence[Sequence[int]]) -> None:
        """Write one batch of id sequences (ids are checked against the vocabulary size)."""
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is closed")
        if not seqs:
            return
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        ids = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=int(lengths.sum()))
        self.append_array(ids, lengths)

    def append_array(self, ids: np.ndarray, lengths: np.ndarray, *, more: bool = False) -> None:
        """Write sequences given as their ids end to end and each one's length (sum(lengths) == len(ids)).

        `more`: the last sequence is not finished; the next call's first sequence goes on with it (so a
        sequence of any length is written in parts, and its separator comes when it ends)."""
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is closed")
        if not len(lengths):
            return
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise DataError(f"token id {bad} is outside the vocabulary (0..{self.vocab_size - 1}) of {self.path}")
        ended = np.asarray(lengths[:-1] if more else lengths, dtype=np.int64)
        if self.separator is not None:
            ids = np.insert(ids, np.cumsum(ended), self.separator)
            ended = ended + 1
        ends = self.n_tokens + np.cumsum(ended, dtype=np.int64)
        self._tokens.write(ids.astype(self.dtype, copy=False).tobytes())
        self._offsets.write(ends.astype(OFFSET_DTYPE, copy=False).tobytes())
        self.n_sequences += len(ended)
        self.n_tokens += len(ids)
        self._unfinished = more

    def commit(self) -> TokenStore:
        """Flush and fsync the files, write the meta last, rename into place, and open the result.

        When a complete store is already there (another writer of the same entry finished first), ours is
        dropped and that one opened; an incomplete directory under the final name is replaced."""
        try:
            return self._publish()
        except BaseException:
            self.abort()
            raise

    def _publish(self) -> TokenStore:
        if self._unfinished:
            raise RuntimeError(f"the last sequence written to {self.path} was never finished (append with more=False)")
        self._close_files(sync=True)
        meta = StoreMeta(
            self.dtype.str,
            self.n_sequences,
            self.n_tokens,
            self.vocab_size,
            self.describes,
            self.separator,
            extra=self.extra,
        )
        publish_dir(self.tmp, self.path, meta.to_json())
        return TokenStore(self.path)

    def abort(self) -> None:
        """Drop everything written (the final name is never touched); safe to call more than once."""
        if self._open:
            self._close_files(sync=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _close_files(self, *, sync: bool) -> None:
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is already closed")
        self._open = False
        for f in (self._tokens, self._offsets):
            if sync:
                f.flush()
                os.fsync(f.fileno())
            f.close()

    def __enter__(self) -> TokenStoreWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:  # an error or Ctrl-C inside the block: nothing is published
            self.abort()
        elif self._open:
            self.commit()
