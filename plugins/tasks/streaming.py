"""A text task's splits as tables of records in the cache (`framework.TextTable`) and the rows each split uses: the
records are read once, streamed into the table, and from then on read back in batches from its memory map, so a
split of any size is never a list of Python strings.

A split is a table and a selection of its rows: all of them in file order, or a seeded held-out share (the same
rows `ratio_split` picks). Tables are keyed by what they hold (the files' sizes and content hashes, or the
generated rows themselves, and the reader's options), token stores by that key, the selection and the tokenizer.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from framework import ENCODE_BATCH, DataError, Row, TextColumn, TextTable, detect_format, prepare_table, record_split
from plugins.tasks.text_data import TextDataConfig, load_splits, ratio_indices
from plugins.tasks.token_cache import cache_root

T = TypeVar("T")
TABLES = "tables"  # the cache's folder of tables (token stores are in "tokens")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@functools.cache
def scratch_root() -> Path:
    """A directory for this process's tables and stores when caching is off (removed when the process ends)."""
    root = Path(tempfile.mkdtemp(prefix="plait-data-"))
    atexit.register(shutil.rmtree, root, True)
    return root


def data_root(cache: bool, cache_dir: str | None) -> Path:
    """Where a task's tables and token stores go: the cache (`cache_dir`, $PLAIT_CACHE_DIR …), else scratch."""
    return cache_root(cache_dir) if cache else scratch_root()


@dataclass(frozen=True)
class TableSource:
    """Where one split's records come from: `key` says what they are, `rows()` reads them (again)."""

    key: str
    rows: Callable[[], Iterable[Row]]
    files: list[dict[str, Any]] = field(default_factory=list)  # {path, bytes, sha256} of each file read

    def where(self, row: int) -> str:
        """`file:line` of row `row` (read again from the source: for error messages only)."""
        return next(islice(iter(self.rows()), row, None))[0]


def file_source(
    spec: str, split: str, reader: str, rows: Callable[[], Iterable[Row]], fmt: str = "auto", langs: Sequence[str] = ()
) -> TableSource:
    """The records of the files of `spec`, keyed by their sizes and content hashes and by `reader` (the columns,
    format and checks that make a row); the split's name counts only for a saved dataset, which has several."""
    files = record_split(spec, fmt, langs)
    kind = detect_format(spec, fmt)
    content = [(f["bytes"], f["sha256"]) for f in files]
    return TableSource(_digest(reader, kind, split if kind == "hf_disk" else "", content), rows, files)


def memory_source(rows: list[Row], reader: str) -> TableSource:
    """Records already in memory (a generated corpus), keyed by their values."""
    return TableSource(_digest(reader, [values for _, values in rows]), lambda: rows)


class Texts:
    """The values of some text columns of a split's rows, streamed row by row (columns interleaved), with a
    length: what a tokenizer trains on."""

    def __init__(self, rows: SplitRows, columns: Sequence[str]) -> None:
        self.rows, self.columns = rows, list(columns)

    def __len__(self) -> int:
        return len(self.rows) * len(self.columns)

    def __iter__(self) -> Iterator[str]:
        for batches in zip(*(self.rows.batches(c) for c in self.columns), strict=True):
            for values in zip(*batches, strict=True):
                yield from values


class ColumnRows:
    """One text column of a split, by the split's row number, read from the memory map on access."""

    def __init__(self, column: TextColumn, index: np.ndarray | None) -> None:
        self.column, self.index = column, index

    def __len__(self) -> int:
        return len(self.column) if self.index is None else len(self.index)

    def __getitem__(self, i: int) -> str:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.column[i if self.index is None else int(self.index[i])]


@dataclass(frozen=True, eq=False)
class SplitRows:
    """One split: the rows `index` of a table (None: all of them, in file order), and what it is (`key`)."""

    table: TextTable
    source: TableSource
    index: np.ndarray | None = None
    selection: str = "all"

    @property
    def key(self) -> str:
        """What these rows are: the table's source and the selection (a token store's key builds on it)."""
        return f"{self.source.key}/{self.selection}"

    def __len__(self) -> int:
        return len(self.table) if self.index is None else len(self.index)

    def where(self, i: int) -> str:
        """`file:line` of the split's row `i`."""
        return self.source.where(i if self.index is None else int(self.index[i]))

    def batches(self, column: str, size: int = ENCODE_BATCH) -> Iterator[list[str]]:
        """The values of a text column in the split's row order, `size` at a time."""
        return self.table.text(column).batches(self.index, size)

    def texts(self, *columns: str) -> Texts:
        """The values of `columns`, row by row: what a tokenizer trains on."""
        return Texts(self, columns)

    def column(self, name: str) -> ColumnRows:
        """A text column by the split's row number."""
        return ColumnRows(self.table.text(name), self.index)

    def codes(self, name: str) -> np.ndarray:
        """The code of each row's value of the categorical column `name`, in the split's row order."""
        codes = self.table.codes(name)
        return np.asarray(codes if self.index is None else codes[self.index])

    def held_out(self, val_ratio: float, seed: int) -> tuple[SplitRows, SplitRows]:
        """(train, val): a seeded `val_ratio` share held out, the rows `ratio_split` would pick."""
        if self.index is not None:
            raise DataError("only a whole split can be split into train and val")
        train, val = ratio_indices(len(self), val_ratio, seed)
        picked = f"ratio:{val_ratio!r}:{seed}"
        return (
            SplitRows(self.table, self.source, train, f"{picked}:train"),
            SplitRows(self.table, self.source, val, f"{picked}:val"),
        )


def open_rows(source: TableSource, root: Path, texts: Sequence[str], codes: Sequence[str] = ()) -> SplitRows:
    """All rows of `source` as a table under `root` (read and written on the first use, opened after that); each
    row's values are those of `texts`, then of `codes`."""
    key = _digest(source.key, list(texts), list(codes))
    rows = (values for _, values in source.rows())
    table = prepare_table(root / TABLES / key[:2] / key, rows, texts, codes, describes=f"{len(texts)} text columns")
    return SplitRows(table, source)


def convert_values(rows: SplitRows, column: str, convert: Callable[[str, str], T]) -> dict[int, T]:
    """`convert(value, where)` of each distinct value of the categorical `column` that `rows` hold, by code; a
    value it rejects (DataError) is rejected again naming the first of the split's rows that holds it."""
    codes = rows.codes(column)
    values = rows.table.values(column)
    done: dict[int, T] = {}
    bad: list[int] = []
    for code in np.unique(codes).tolist():
        try:
            done[code] = convert(values[code], "")
        except DataError:
            bad.append(code)
    if bad:
        first = int(np.flatnonzero(np.isin(codes, bad))[0])
        convert(values[int(codes[first])], rows.where(first))  # raises, naming the row
        raise DataError(f"{rows.where(first)}: the value {values[int(codes[first])]!r} was rejected")
    return done


class TableReader:
    """Reads a text task's splits (`load_splits`: files, the generated corpus, a held-out share) into tables with
    the text columns `texts` and the categorical columns `codes`, and remembers the files each split read."""

    def __init__(self, cfg: TextDataConfig, reader: str, texts: Sequence[str], codes: Sequence[str] = ()) -> None:
        self.cfg, self.reader, self.texts, self.codes = cfg, reader, list(texts), list(codes)
        self.files: dict[str, list[dict[str, Any]]] = {}

    @property
    def root(self) -> Path:
        """Where the tables and token stores go (the cache, or scratch when caching is off)."""
        return data_root(self.cfg.cache, self.cfg.cache_dir)

    def open(self, source: TableSource, split: str) -> SplitRows:
        """All rows of `source` (read into a table on the first use), recorded as what `split` read."""
        self.files[split] = source.files
        return open_rows(source, self.root, self.texts, self.codes)

    def load(
        self,
        source: Callable[[str, str], TableSource],
        generated: Callable[[], dict[str, list[Row]]],
        *,
        only: str | None = None,
    ) -> dict[str, SplitRows]:
        """Split name -> its rows, as `load_splits` picks them: `source(path, split)` of each configured file, or
        the `generated()` rows when there is no training file; val a seeded share of train when it has no file."""
        cfg = self.cfg

        def generated_rows() -> dict[str, SplitRows]:
            return {s: self.open(memory_source(rows, self.reader), s) for s, rows in generated().items()}

        return load_splits(
            cfg,
            lambda path, split: self.open(source(path, split), split),
            generated_rows,
            lambda rows: rows.held_out(cfg.val_ratio, cfg.seed),
            only=only,
        )

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files it read (splits of generated data left out)."""
        return {split: files for split, files in self.files.items() if files}
