"""Records as read, before tokenization: a split's text columns (UTF-8) and its categorical columns (int32 codes
and their values, memory-mapped), written once into the cache and read back in batches, in file order or in any
row order, so that a split of any size is never held as a list of Python strings.

A table is a directory: per text column `text-<i>.bin` (each value's UTF-8 bytes and then a NUL byte, which no
value holds: the readers reject NUL bytes) and `text-<i>.offsets` (n + 1 int64 byte positions), per categorical
column `codes-<i>.bin` (int32), and `meta.json`, written last. Like a token store it appears under its final name
only complete (built beside it, renamed into place) and is prepared once per node under the entry's lock.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from framework.data.prepare import prepare_entry
from framework.data.records import batched
from framework.data.store_writer import publish_dir, staging_dir
from framework.data.token_store import META_FILE, OFFSET_DTYPE, _map
from framework.errors import DataError

TABLE_KIND = "text_table"
TABLE_FORMAT = 1
TABLE_BATCH = 10_000  # rows appended at once
END = "\0"  # ends every text value on disk
BYTES = np.dtype("u1")
CODE_DTYPE = np.dtype("<i4")


@dataclass(frozen=True)
class TableMeta:
    """What `meta.json` records: the row count, the columns and each categorical column's values in code order."""

    n_rows: int
    texts: list[str]
    codes: dict[str, list[str]] = field(default_factory=dict)
    text_bytes: list[int] = field(default_factory=list)  # bytes of each text column's file
    describes: str = ""
    kind: str = TABLE_KIND
    format: int = TABLE_FORMAT

    @classmethod
    def read(cls, directory: Path) -> TableMeta:
        """The meta of the table in `directory`; another kind or format is an error saying to delete it."""
        data: dict[str, Any] = json.loads((directory / META_FILE).read_text())
        if data.get("kind") != TABLE_KIND or data.get("format") != TABLE_FORMAT:
            raise DataError(f"{directory} is not a text table this Plait reads; delete it and it is prepared again")
        return cls(**data)


class TextColumn:
    """One text column: a value by row, or values in batches in file order or any row order.

    Values are read with `pread` (offsets memory-mapped): a table of any size is read in any order at the speed of
    a memory map, without its pages piling up in this process's resident memory as a mapping's do."""

    def __init__(self, path: Path, offsets: np.ndarray) -> None:
        self.offsets = offsets
        self._file = open(path, "rb")  # noqa: SIM115 (read for the column's life; closed with it)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _read(self, start: int, stop: int) -> bytes:
        return os.pread(self._file.fileno(), stop - start, start)

    def __getitem__(self, row: int) -> str:
        return self._read(int(self.offsets[row]), int(self.offsets[row + 1]) - 1).decode("utf-8")

    def batches(self, index: np.ndarray | None = None, size: int = TABLE_BATCH) -> Iterator[list[str]]:
        """The values of rows `index` (None: every row in file order), `size` at a time."""
        n = len(self) if index is None else len(index)
        for start in range(0, n, size):
            if index is None:
                raw = self._read(int(self.offsets[start]), int(self.offsets[min(start + size, n)]))
            else:
                rows = np.asarray(index[start : start + size], dtype=np.int64)
                starts, ends = self.offsets[rows].tolist(), self.offsets[rows + 1].tolist()
                raw = b"".join([self._read(a, b) for a, b in zip(starts, ends, strict=True)])
            values = raw.decode("utf-8").split(END)
            values.pop()  # after the last END
            yield values


class TextTable:
    """A complete table opened read-only: nothing is read into memory until asked for."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory)
        self.meta = TableMeta.read(self.path)
        n = self.meta.n_rows
        for i, size in enumerate(self.meta.text_bytes):
            if (found := (self.path / f"text-{i}.bin").stat().st_size) != size:
                raise DataError(f"{self.path}/text-{i}.bin: {found} bytes, its meta says {size}; delete the table")
        self._texts = {
            name: TextColumn(self.path / f"text-{i}.bin", _map(self.path / f"text-{i}.offsets", OFFSET_DTYPE, n + 1))
            for i, name in enumerate(self.meta.texts)
        }
        self._codes = {
            name: _map(self.path / f"codes-{i}.bin", CODE_DTYPE, n) for i, name in enumerate(self.meta.codes)
        }

    def __len__(self) -> int:
        return self.meta.n_rows

    def text(self, name: str) -> TextColumn:
        """The text column `name`."""
        return self._texts[name]

    def codes(self, name: str) -> np.ndarray:
        """The int32 code of each row's value in the categorical column `name` (its values: `values(name)`)."""
        return self._codes[name]

    def values(self, name: str) -> list[str]:
        """The distinct values of the categorical column `name`, in code order (first seen first)."""
        return self.meta.codes[name]

    def __repr__(self) -> str:
        return f"TextTable({str(self.path)!r}, {len(self)} rows, texts {self.meta.texts}, codes {list(self._codes)})"


class TextTableWriter:
    """Appends rows (values of the text columns, then of the categorical ones) to a new table for `path`;
    `commit()` (or leaving the `with` block) publishes it, an error or Ctrl-C inside the block publishes nothing."""

    def __init__(self, path: Path, texts: Sequence[str], codes: Sequence[str] = (), *, describes: str = "") -> None:
        self.path = Path(path)
        self.texts, self.codes, self.describes = list(texts), list(codes), describes
        self.n_rows = 0
        self.tmp = staging_dir(self.path)
        self._files = [open(self.tmp / f"text-{i}.bin", "wb") for i in range(len(self.texts))]  # noqa: SIM115
        self._files += [open(self.tmp / f"text-{i}.offsets", "wb") for i in range(len(self.texts))]  # noqa: SIM115
        self._files += [open(self.tmp / f"codes-{i}.bin", "wb") for i in range(len(self.codes))]  # noqa: SIM115
        self._sizes = [0] * len(self.texts)
        self._values: list[dict[str, int]] = [{} for _ in self.codes]
        for offsets in self._files[len(self.texts) : 2 * len(self.texts)]:
            offsets.write(np.zeros(1, OFFSET_DTYPE).tobytes())
        self._open = True

    def append(self, rows: Sequence[Sequence[str]]) -> None:
        """Write one batch of rows."""
        if not self._open:
            raise RuntimeError(f"writer for {self.path} is closed")
        n_texts = len(self.texts)
        for j in range(n_texts):
            joined = (END.join([row[j] for row in rows]) + END).encode("utf-8")
            ends = np.flatnonzero(np.frombuffer(joined, dtype=BYTES) == 0) + 1
            if len(ends) != len(rows):
                raise DataError(f"a value of column '{self.texts[j]}' holds a NUL character; remove it from the data")
            self._files[j].write(joined)
            self._files[n_texts + j].write((ends + self._sizes[j]).astype(OFFSET_DTYPE).tobytes())
            self._sizes[j] += len(joined)
        for j, lookup in enumerate(self._values):
            column = (lookup.setdefault(row[n_texts + j], len(lookup)) for row in rows)
            self._files[2 * n_texts + j].write(np.fromiter(column, CODE_DTYPE, count=len(rows)).tobytes())
        self.n_rows += len(rows)

    def commit(self) -> TextTable:
        """Flush and fsync the files, write the meta last, rename into place, and open the result."""
        try:
            self._close(sync=True)
            values = {name: list(lookup) for name, lookup in zip(self.codes, self._values, strict=True)}
            meta = TableMeta(self.n_rows, self.texts, values, self._sizes, self.describes)
            publish_dir(self.tmp, self.path, json.dumps(asdict(meta)) + "\n")
            return TextTable(self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written (the final name is never touched); safe to call more than once."""
        if self._open:
            self._close(sync=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _close(self, *, sync: bool) -> None:
        self._open = False
        for f in self._files:
            if sync:
                f.flush()
                os.fsync(f.fileno())
            f.close()

    def __enter__(self) -> TextTableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.abort()
        elif self._open:
            self.commit()


def prepare_table(
    entry: Path, rows: Iterable[Sequence[str]], texts: Sequence[str], codes: Sequence[str] = (), *, describes: str = ""
) -> TextTable:
    """The table at `entry`: opened when complete, else written from `rows` (each: the values of `texts`, then of
    `codes`) under the entry's lock; `rows` is only iterated when the table is written."""

    def write() -> TextTable:
        with TextTableWriter(entry, texts, codes, describes=describes) as writer:
            for batch in batched(rows, TABLE_BATCH):
                writer.append(batch)
            return writer.commit()

    return prepare_entry(entry, TextTable, write)
