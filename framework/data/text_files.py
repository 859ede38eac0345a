"""Reading users' text files whole, with errors that name the file and the line (shared by tasks and commands);
thin wrappers over the streaming readers, for inputs small enough to hold."""

from __future__ import annotations

from pathlib import Path

from framework.data.decoding import text_chunks
from framework.data.readers import text_lines
from framework.errors import DataError


def read_utf8(path: Path) -> str:
    """The whole file as text (decompressed, a BOM dropped); a missing file, invalid UTF-8 or a NUL byte is an
    error naming the path and the line."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return "".join(text_chunks(path))


def read_lines(path: Path) -> list[str]:
    """The file's lines; an empty line is an error naming it."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return [line for _, line in text_lines(path)]
