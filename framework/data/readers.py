"""Streaming record readers for every data format: rows of (`file:line`, values of the wanted columns) read in
chunks from every file of a split, so no split is ever held as one string or one list.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

from framework.data.decoding import CHUNK_BYTES
from framework.data.formats import detect_format
from framework.data.hf_disk import hf_rows
from framework.data.lines import CSV_LINES, LF_LINES, numbered_lines
from framework.data.records import Row, check_columns, missing_columns, some_rows
from framework.data.sources import split_files
from framework.errors import DataError

LABEL_FIRST_FIELDS = ("label", "text")  # the two fields of a `<label> <sentence>` line
Reader = Callable[[Path, Sequence[str], int], Iterator[Row]]


def text_lines(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, str]]:
    """(number, line) of a file where every line holds an example: an empty line or file is an error naming it."""
    empty = True
    for number, line in numbered_lines(path, chunk_bytes=chunk_bytes):
        if not line.strip():
            raise DataError(f"{path}:{number}: empty line; remove it (every line must hold an example)")
        empty = False
        yield number, line
    if empty:
        raise DataError(f"{path}: the file is empty")


def _text(path: Path, columns: Sequence[str], chunk_bytes: int) -> Iterator[Row]:
    check_columns(path.name, str(path), columns, ["text"])
    for number, line in text_lines(path, chunk_bytes):
        yield f"{path}:{number}", [line]


def _label_first(path: Path, columns: Sequence[str], chunk_bytes: int) -> Iterator[Row]:
    check_columns(path.name, str(path), columns, LABEL_FIRST_FIELDS)
    for number, line in text_lines(path, chunk_bytes):
        label, _, text = line.strip().partition(" ")
        if not text.strip():
            raise DataError(f"{path}:{number}: expected '<label> <sentence>', found {line[:60]!r}")
        fields = {"label": label, "text": text.strip()}
        yield f"{path}:{number}", [fields[c] for c in columns]


def _jsonl(path: Path, columns: Sequence[str], chunk_bytes: int) -> Iterator[Row]:
    for number, line in numbered_lines(path, LF_LINES, chunk_bytes):
        where = f"{path}:{number}"
        if not line.strip():
            raise DataError(f"{where}: empty line; remove it")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object per line, found {type(obj).__name__}")
        missing = [c for c in columns if c not in obj]
        if missing:
            raise missing_columns(path.name, where, missing, sorted(obj))
        yield where, [str(obj[c]) for c in columns]


def _records(path: Path, delimiter: str, chunk_bytes: int) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each csv record; a malformed record is an error naming its line. Only LF, CRLF or CR
    end a record (U+2028 or a form feed inside a field is text) and a quoted field may hold line breaks."""
    lines = (line for _, line in numbered_lines(path, CSV_LINES, chunk_bytes))
    reader: Any = csv.reader(lines, delimiter=delimiter)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{start}: {exc}; fix the quoting of this record") from None
        yield start, record
        start = reader.line_num + 1


def _delimited(delimiter: str) -> Reader:
    def read(path: Path, columns: Sequence[str], chunk_bytes: int) -> Iterator[Row]:
        """Rows of a file of delimited fields under a header row that names the columns."""
        records = _records(path, delimiter, chunk_bytes)
        header = next(records, (1, None))[1]
        if header is None:
            raise DataError(f"{path}: the file is empty")
        index = check_columns(path.name, f"{path}:1", columns, header)
        for line, record in records:
            if not "".join(record).strip():  # no field holds anything
                raise DataError(f"{path}:{line}: empty line; remove it")
            if len(record) < len(header):
                raise DataError(f"{path}:{line}: expected {len(header)} fields, found {len(record)}")
            yield f"{path}:{line}", [record[j] for j in index]

    return read


READERS: dict[str, Reader] = {
    "text": _text,
    "label_first": _label_first,
    "jsonl": _jsonl,
    "tsv": _delimited("\t"),
    "csv": _delimited(","),
}


def read_rows(
    spec: str, columns: Sequence[str], fmt: str = "auto", *, split: str = "train", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Row]:
    """Rows of (`file:line`, values of `columns`) from every file of a split (a file, a glob or a directory, in sorted
    order; `.gz`/`.bz2`/`.xz` decompressed), or of a saved Hugging Face dataset; streamed, `chunk_bytes` at a time."""
    kind = detect_format(spec, fmt)
    if kind == "hf_disk":
        yield from some_rows(hf_rows(spec, columns, split), spec)
        return
    if kind not in READERS:
        raise DataError(f"{spec}: format '{kind}' holds no columns; pick tsv, csv, jsonl, label_first or hf_disk")
    for path in split_files(spec, fmt):
        yield from some_rows(READERS[kind](path, columns, chunk_bytes), str(path))


def read_parallel_rows(spec: str, langs: tuple[str, str], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Row]:
    """Rows of (`file:line`, [source, target]) from line-aligned files: `spec` with `{lang}` filled in by each of
    `langs` (each side a file, a glob or a directory of only such files; their files are paired in sorted order)."""
    sides = [split_files(spec.replace("{lang}", lang), "parallel") for lang in langs]
    if len(sides[0]) != len(sides[1]):
        raise DataError(
            f"{spec}: {len(sides[0])} {langs[0]} file(s) but {len(sides[1])} {langs[1]} file(s); "
            f"line-aligned files come in pairs ({', '.join(p.name for p in sides[0] + sides[1])})"
        )
    for source, target in zip(*sides, strict=True):
        yield from _aligned(source, target, chunk_bytes)


def _aligned(source: Path, target: Path, chunk_bytes: int) -> Iterator[Row]:
    left, right = text_lines(source, chunk_bytes), text_lines(target, chunk_bytes)
    for number, (s, t) in enumerate(zip_longest(left, right), 1):
        if s is None or t is None:  # one file ended: count the rest of the other to say by how much
            rest = 1 + sum(1 for _ in (left if t is None else right))
            sizes = (number - 1 + rest, number - 1) if t is None else (number - 1, number - 1 + rest)
            raise DataError(
                f"{source} has {sizes[0]} lines but {target} has {sizes[1]}; line-aligned files must have one "
                f"translation per line (first extra line: {source if t is None else target}:{number})"
            )
        yield f"{source}:{number}", [s[1], t[1]]


def documents(spec: str, fmt: str = "auto") -> list[Path]:
    """The files of a plain-text split, one document each (read each with `text_blocks`, in pieces of whole lines)."""
    kind = detect_format(spec, fmt)
    if kind != "text":
        raise DataError(f"{spec}: documents are plain-text files; this split is {kind} (read its rows instead)")
    return split_files(spec, fmt)
