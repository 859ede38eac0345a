"""What every reader's records share: the row type, the missing-column error, and grouping rows into batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypeVar

from framework.errors import DataError

T = TypeVar("T")
Row = tuple[str, list[str]]  # (where: "file:line", values in the order of the requested columns)


def missing_columns(source: str, where: str, missing: Sequence[str], found: Sequence[str]) -> DataError:
    """The error for columns a file lacks: where, which are missing, which it has, and the options to set."""
    return DataError(
        f"{where}: missing column(s) {list(missing)}; found {list(found)}. "
        f"Set the task's *_column options to the names in {source}"
    )


def check_columns(source: str, where: str, columns: Sequence[str], found: Sequence[str]) -> list[int]:
    """The index in `found` of each wanted column, or the missing-column error."""
    missing = [c for c in columns if c not in found]
    if missing:
        raise missing_columns(source, where, missing, found)
    return [list(found).index(c) for c in columns]


def some_rows(rows: Iterable[Row], source: str) -> Iterator[Row]:
    """`rows`, passed on as they come; none at all is an error naming `source`."""
    empty = True
    for row in rows:
        empty = False
        yield row
    if empty:
        raise DataError(f"{source}: no examples found")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last may be shorter): what tokenizers train on and encode at once."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
