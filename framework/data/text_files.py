"""Reading users' text files with errors that name the file and the line (shared by tasks and commands)."""

from __future__ import annotations

from pathlib import Path

from framework.errors import DataError


def read_utf8(path: Path) -> str:
    """The whole file as text; a missing file or a non-UTF-8 byte is an error naming the path and line."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}); re-encode the file as UTF-8") from None


def read_lines(path: Path) -> list[str]:
    """The file's lines; an empty line is an error naming it."""
    lines = read_utf8(path).splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}:{i}: empty line; remove it (every line must hold an example)")
    if not lines:
        raise DataError(f"{path}: the file is empty")
    return lines
