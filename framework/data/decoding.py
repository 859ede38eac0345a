"""A data file's bytes as UTF-8 text, streamed in chunks: `.gz`/`.bz2`/`.xz` decompressed on the way, a
byte-order mark dropped, and bad input (invalid UTF-8, NUL bytes, a binary or truncated file) an error naming
the file and the line.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from framework.data.sources import compression
from framework.errors import DataError

CHUNK_BYTES = 1 << 18  # read (and decompress) this much at a time: 256 KiB (bigger is no faster)
BINARY_PROBE = 8000  # a NUL byte this early means a binary file, as git and grep decide
BOM = "\ufeff"
_OPENERS: dict[str, Callable[..., Any]] = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}
_MAGIC = {  # what a file that was meant as text but is not usually is, and the fix
    b"\xff\xfe": "it is UTF-16 text (a UTF-16 byte-order mark); save it as UTF-8",
    b"\xfe\xff": "it is UTF-16 text (a UTF-16 byte-order mark); save it as UTF-8",
    b"\x1f\x8b": "it looks like gzip-compressed data; name it *.gz",
    b"BZh": "it looks like bzip2-compressed data; name it *.bz2",
    b"\xfd7zXZ\x00": "it looks like xz-compressed data; name it *.xz",
    b"PK\x03\x04": "it looks like a zip archive; unpack it",
}
_CORRUPT = (EOFError, OSError, zlib.error, lzma.LZMAError)  # what a damaged compressed stream raises


def open_bytes(path: Path) -> BinaryIO:
    """`path` opened for reading bytes, decompressed on the fly when its suffix says so."""
    kind = compression(path)
    if kind is None:
        return path.open("rb")
    stream: BinaryIO = _OPENERS[kind](path, "rb")
    return stream


class _Decoder:
    """Incremental UTF-8 decoding that knows where it is (bytes and line breaks seen) to name a bad byte's line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.offset = 0  # bytes before the current chunk
        self.newlines = 0  # b"\n" before the current chunk
        self.started = False  # text seen yet (the BOM can only come first)
        self.head = b""  # the first bytes, to say what a binary file is

    def decode(self, chunk: bytes) -> str:
        """The text of `chunk` (b"" at the end of the file), checked for NUL bytes and invalid UTF-8."""
        if len(self.head) < BINARY_PROBE:
            self.head += chunk[: BINARY_PROBE - len(self.head)]
        nul = chunk.find(b"\x00")
        text = self._decode(chunk if nul < 0 else chunk[:nul], final=not chunk)  # an earlier bad byte comes first
        if nul >= 0:
            raise self._nul(self.offset + nul, self._line(chunk, nul))
        self.offset += len(chunk)
        self.newlines += chunk.count(b"\n")
        if not self.started and text:
            self.started = True
            text = text.removeprefix(BOM)
        return text

    def _decode(self, data: bytes, final: bool) -> str:
        pending = self.decoder.getstate()[0]  # the start of a character cut by the previous chunk
        try:
            return self.decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            offset, line = self.offset - len(pending) + exc.start, self._line(pending + data, exc.start)
        raise self._binary(offset, line, "not valid UTF-8") or DataError(
            f"{self.path}:{line}: not valid UTF-8 (byte {offset}); re-encode the file as UTF-8"
        )

    def _nul(self, offset: int, line: int) -> DataError:
        return self._binary(offset, line, "a NUL byte") or DataError(
            f"{self.path}:{line}: a NUL byte (byte {offset}) in the text; remove the NUL bytes from the file"
        )

    def _line(self, data: bytes, index: int) -> int:
        return self.newlines + data.count(b"\n", 0, index) + 1

    def _binary(self, offset: int, line: int, problem: str) -> DataError | None:
        """The error for a file that is no text at all (its first bad byte near the start), saying what it is."""
        if offset >= BINARY_PROBE:
            return None
        what = next((what for magic, what in _MAGIC.items() if self.head.startswith(magic)), None)
        nul = self.head.find(b"\x00")
        if what is None and nul < 0:
            return None
        if what is None:  # NUL bytes early on: a binary file, named by its first NUL
            what = "it looks like a binary file; point the task at a text file"
            offset, line, problem = nul, self.head.count(b"\n", 0, nul) + 1, "a NUL byte"
        return DataError(f"{self.path}:{line}: {problem} (byte {offset}); this is not a UTF-8 text file: {what}")


def text_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The text of `path` in pieces of about `chunk_bytes` (a BOM dropped); joined, they are the whole text."""
    decoder = _Decoder(path)
    kind = compression(path)
    with open_bytes(path) as stream:
        while True:
            try:
                chunk = stream.read(chunk_bytes)
            except _CORRUPT as exc:
                if kind is None:
                    raise
                raise DataError(
                    f"{path}: the {kind} data is truncated or corrupt at line {decoder.newlines + 1} ({exc}); "
                    "re-create or re-download the file"
                ) from None
            text = decoder.decode(chunk)
            if text:
                yield text
            if not chunk:
                return
