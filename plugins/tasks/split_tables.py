"""The splits of the row tasks (classification, translation) as tables of records in the cache
(`framework.TextTable`) and the rows each split uses: records are read once and streamed into the table, read back
from it in batches to train the tokenizer and to fill each split's token store, so a split of any size is never a
list of Python strings.

A split is a table and a selection of its rows: all of them in file order, or a seeded held-out share (the rows
`ratio_split` picks). Tables are keyed by what they hold (the files' sizes and content hashes, or the generated
rows themselves, and the reader's options); tokenizers (reused from the cache) and token stores by that key, the
rows picked and, for stores, the tokenizer. What was prepared or found is kept as timed rows for `plait prepare`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

import numpy as np

from framework import (
    ENCODE_BATCH,
    DataError,
    Progress,
    Row,
    TextColumn,
    TextTable,
    Tokenizer,
    TokenizerFactory,
    TokenStore,
    TokenStoreWriter,
    detect_format,
    encode_batches,
    prepare_table,
    source_files,
)
from plugins.tasks.configs import TextDataConfig
from plugins.tasks.streaming import (
    TOKENIZERS_DIR,
    cached_store,
    content_key,
    data_key,
    file_records,
    store_root,
    store_row,
    timed,
)
from plugins.tasks.text_data import load_splits, path_key, ratio_indices
from plugins.tasks.token_cache import cache_root, tokenizer_digest

T = TypeVar("T")
TABLES_DIR = "tables"  # under the cache root, beside "tokens" and "tokenizers"
VERSION = 1  # of how records become rows and rows become ids: part of every key


@dataclass(frozen=True)
class TableSource:
    """Where one split's records come from: `key` says what they are, `rows()` reads them (again)."""

    key: str
    rows: Callable[[], Iterable[Row]]
    files: list[dict[str, Any]] = field(default_factory=list)  # {path, bytes, sha256} of each file read
    config_key: str = ""  # the option naming the files ("task.train_path"), for errors

    def where(self, row: int) -> str:
        """`file:line` of row `row` (read again from the source: for error messages only)."""
        return next(islice(iter(self.rows()), row, None))[0]


def memory_source(rows: list[Row], reader: str) -> TableSource:
    """Records already in memory (a generated corpus), keyed by their values."""
    return TableSource(data_key(VERSION, reader, [values for _, values in rows]), lambda: rows)


class Texts:
    """The values of some text columns of a split's rows, streamed row by row (columns interleaved), with a
    length: what a tokenizer trains on (counted by a progress bar or line as it streams)."""

    def __init__(self, rows: SplitRows, columns: Sequence[str], what: str = "") -> None:
        self.rows, self.columns, self.what = rows, list(columns), what

    def __len__(self) -> int:
        return len(self.rows) * len(self.columns)

    def __iter__(self) -> Iterator[str]:
        with Progress(self.what or "reading", enabled=bool(self.what)) as progress:
            for batches in zip(*(self.rows.batches(c) for c in self.columns), strict=True):
                for batch in batches:
                    progress.update(len(batch), sum(map(len, batch)))
                for values in zip(*batches, strict=True):
                    yield from values


class ColumnRows:
    """One text column of a split, by the split's row number, read from the table on access."""

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
        """What these rows are: the table's source and the selection (keys of tokenizers and stores build on it)."""
        return f"{self.source.key}/{self.selection}"

    def __len__(self) -> int:
        return len(self.table) if self.index is None else len(self.index)

    def where(self, i: int) -> str:
        """`file:line` of the split's row `i`."""
        return self.source.where(i if self.index is None else int(self.index[i]))

    def batches(self, column: str, size: int = ENCODE_BATCH) -> Iterator[list[str]]:
        """The values of a text column in the split's row order, `size` at a time."""
        return self.table.text(column).batches(self.index, size)

    def texts(self, *columns: str, what: str = "") -> Texts:
        """The values of `columns`, row by row: what a tokenizer trains on."""
        return Texts(self, columns, what)

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


def takes_reuse(factory: Callable[..., Any]) -> bool:
    """Whether a tokenizer factory takes `reuse=` (one written for the two-argument contract trains every time)."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "reuse" or p.kind is p.VAR_KEYWORD for p in parameters)


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
    """A row task's data: its splits read into tables with the text columns `texts` and the categorical columns
    `codes`, its tokenizers and token stores; what each split read, and timed rows of what was prepared."""

    def __init__(self, cfg: TextDataConfig, reader: str, texts: Sequence[str], codes: Sequence[str] = ()) -> None:
        self.cfg, self.reader, self.texts, self.codes = cfg, reader, list(texts), list(codes)
        self.root = cache_root(cfg.cache_dir) if cfg.cache else None  # None: a temporary directory, no reuse
        self.files: dict[str, list[dict[str, Any]]] = {}  # split -> {path, bytes, sha256} of each file read
        self.steps: list[dict[str, Any]] = []  # what was prepared or found, timed (`plait prepare` prints them)
        self._digests: dict[int, str] = {}

    def file_source(
        self, path: str, split: str, reader: str, rows: Callable[[], Iterable[Row]], fmt: str, langs: Sequence[str] = ()
    ) -> TableSource:
        """The records of the files of `path`, keyed by their sizes and content hashes (remembered per file state in
        the cache) and `reader` (the columns and checks that make a row); the split counts only for a saved dataset,
        which holds several."""
        config_key = path_key(split)
        with timed(self.steps, {"step": f"files {split}"}) as step:
            try:
                paths, kind = source_files(path, fmt, langs), detect_format(path, fmt)
            except DataError as exc:
                raise DataError(f"{config_key}: {exc}") from None
            records, hashed = file_records(paths, self.root)
            step.update(files=len(paths), bytes=sum(r["bytes"] for r in records), hashed=hashed)
        key = data_key(VERSION, reader, kind, split if kind == "hf_disk" else "", content_key(records))
        return TableSource(key, rows, records, config_key)

    def open(self, source: TableSource, split: str) -> SplitRows:
        """All rows of `source` (read into a table on the first use), recorded as what `split` read."""
        if source.files:
            self.files[split] = source.files
        key = data_key(source.key, self.texts, self.codes)
        read = False

        def rows() -> Iterator[list[str]]:
            nonlocal read
            read = True
            with Progress(f"reading {source.config_key}", enabled=bool(source.files)) as progress:
                for _, values in source.rows():
                    progress.update(1, sum(map(len, values)))
                    yield values

        with timed(self.steps, {"step": f"table {split}"}) as step:
            try:
                table = prepare_table(
                    store_root(self.root) / TABLES_DIR / key[:2] / key, rows(), self.texts, self.codes
                )
            except DataError as exc:
                raise DataError(f"{source.config_key}: {exc}" if source.config_key else str(exc)) from None
            step.update(state="prepared" if read else "cached", rows=len(table), store=str(table.path))
        return SplitRows(table, source)

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

    def tokenizer(self, factory: TokenizerFactory, role: str, train: SplitRows | None, *columns: str) -> Tokenizer:
        """The tokenizer of `role` from `factory`: trained on the values of `columns` of `train`, or reused from the
        cache when one was trained on the same rows with the same options (None: restored, never trained)."""
        reuse = None
        if train is not None and self.root is not None:
            reuse = self.root / TOKENIZERS_DIR / data_key(VERSION, "rows", train.key, columns)
        trained = False

        def texts() -> Iterable[str]:
            nonlocal trained
            trained = True
            if train is None:
                return []
            return train.texts(*columns, what=f"training the {role} tokenizer" if train.source.files else "")

        with timed(self.steps, {"step": f"tokenizer {role}"}) as step:
            tokenizer = factory(role, texts, reuse=reuse) if takes_reuse(factory) else factory(role, texts)
            step["state"] = "trained" if trained else "loaded"
        return tokenizer

    def encode(self, tokenizer: Tokenizer, rows: SplitRows, column: str, split: str) -> TokenStore:
        """The token ids of a text column of `rows`: a store in the cache, filled in parallel batches on a miss."""
        if id(tokenizer) not in self._digests:
            self._digests[id(tokenizer)] = tokenizer_digest(tokenizer)
        key = data_key(VERSION, "rows/tokens", self._digests[id(tokenizer)], rows.key, column)

        def fill(writer: TokenStoreWriter) -> None:
            with Progress(f"tokenizing {split} {column}", enabled=bool(rows.source.files)) as progress:
                for ids in encode_batches(tokenizer, progress.track(rows.batches(column))):
                    writer.append(ids)

        with timed(self.steps, {}) as step:
            store, filled = cached_store(
                self.root, key, fill, vocab_size=tokenizer.vocab_size, describes=f"{split}/{column}"
            )
            step.update(store_row(f"{split} {column}", store, filled))
        return store

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files it read (splits of generated data left out)."""
        return dict(self.files)
