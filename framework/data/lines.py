"""A data file's text cut into lines (or blocks of whole lines) as it streams in, by the line rule of its
format, with the same result as cutting the whole text at once.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from framework.data.decoding import CHUNK_BYTES, text_chunks


@dataclass(frozen=True)
class LineRule:
    """How a format ends its lines: a splitter that keeps the ends, the ends it knows, and whether lines keep them."""

    split: Callable[[str], list[str]]
    ends: tuple[str, ...]
    keep_ends: bool = False

    def is_open(self, piece: str) -> bool:
        """Whether `piece` may continue in the next chunk: no end yet, or a CR that may be the start of CRLF."""
        return not piece.endswith(self.ends) or ("\r" in self.ends and piece.endswith("\r"))

    def strip(self, line: str) -> str:
        """`line` without its end (unless the rule keeps ends)."""
        if self.keep_ends or not line.endswith(self.ends):
            return line
        return line[:-2] if line.endswith("\r\n") and "\r" in self.ends else line[:-1]


# str.splitlines(): every Unicode line boundary (plain text, `<label> <sentence>` and line-aligned files)
UNICODE_LINES = LineRule(
    lambda text: text.splitlines(keepends=True),
    ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"),
)
# the csv module's records: LF, CRLF or CR end a line, the end kept (a quoted field may span lines)
CSV_LINES = LineRule(lambda text: list(io.StringIO(text, newline="")), ("\n", "\r"), keep_ends=True)
# JSON Lines: only LF ends a line (U+2028 or a CR inside a line is text)
LF_LINES = LineRule(lambda text: list(io.StringIO(text, newline="\n")), ("\n",))


def numbered_lines(
    path: Path, rule: LineRule = UNICODE_LINES, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) of `path`, read in chunks; the same lines `rule.split` gives on the whole text."""
    number = 0
    held: list[str] = []  # the start of a line that goes on in a later chunk
    for chunk in text_chunks(path, chunk_bytes):
        if held and not any(end in chunk for end in rule.ends):  # a long line goes on: join it once it ends
            held.append(chunk)
            continue
        pieces = rule.split("".join(held) + chunk)
        held = [pieces.pop()] if pieces and rule.is_open(pieces[-1]) else []
        for piece in pieces:
            number += 1
            yield number, rule.strip(piece)
    for piece in rule.split("".join(held)):  # the last line, when no line end closes it (or a lone CR)
        number += 1
        yield number, rule.strip(piece)


def text_blocks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The text of `path` in blocks of whole lines (each ends at a line feed, but the last), about `chunk_bytes` each;
    joined, they are the whole text. For reading a document of any size in pieces a tokenizer can take."""
    held: list[str] = []
    for chunk in text_chunks(path, chunk_bytes):
        cut = chunk.rfind("\n") + 1
        if not cut:
            held.append(chunk)
            continue
        yield "".join(held) + chunk[:cut]
        held = [chunk[cut:]] if cut < len(chunk) else []
    if held:
        yield "".join(held)
