"""Reading labelled text from TSV, CSV and JSONL files, with errors that name the file and the line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from framework.registry import PlaitError

FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


class DataError(PlaitError):
    """Bad input data; the message names the file, the line and the fix."""


def detect_format(path: Path, fmt: str = "auto") -> str:
    """The file format from `fmt` or, when auto, from the suffix."""
    if fmt != "auto":
        return fmt
    if path.suffix.lower() in FORMATS:
        return FORMATS[path.suffix.lower()]
    raise DataError(f"{path}: cannot tell the format from the suffix; set task.format to tsv, csv or jsonl")


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}); re-encode the file as UTF-8") from None


def read_columns(path: Path | str, columns: list[str], fmt: str = "auto") -> list[tuple[int, dict[str, str]]]:
    """Rows of (line number, {column: value}) holding `columns`; a missing column is an error."""
    path = Path(path).expanduser()
    kind = detect_format(path, fmt)
    lines = _read_lines(path)
    rows: list[tuple[int, dict[str, str]]] = []
    if kind == "jsonl":
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
            missing = [c for c in columns if c not in obj]
            if missing:
                raise DataError(
                    f"{path}:{i}: missing key(s) {missing}; found {sorted(obj)}. Set task.text_column / task.label_column"
                )
            rows.append((i, {c: str(obj[c]) for c in columns}))
        return rows
    reader = csv.reader(lines, delimiter="\t" if kind == "tsv" else ",")
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: the file is empty")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(
            f"{path}:1: missing column(s) {missing}; the header has {header}. Set task.text_column / task.label_column"
        )
    index = [header.index(c) for c in columns]
    for i, record in enumerate(reader, 2):
        if not record:
            continue
        if len(record) < len(header):
            raise DataError(f"{path}:{i}: expected {len(header)} fields, found {len(record)}")
        rows.append((i, {c: record[j] for c, j in zip(columns, index, strict=True)}))
    return rows
