"""The text of one language-modelling split, streamed: its documents (a plain-text file is one document, a row of
a jsonl/tsv/csv/hf_disk split is one) cut into pieces that encode to the ids of the whole document, and encoded in
parallel batches into a token store with the tokenizer's end-of-text id after every document.

Memory stays at a few batches whatever the corpus size: a batch is at most `ENCODE_BATCH` pieces or `BATCH_CHARS`
characters, and a document longer than that is written in parts (`TokenStoreWriter.append_array(..., more=True)`).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framework import (
    ENCODE_BATCH,
    PIECE_CHARS,
    DataError,
    Progress,
    Tokenizer,
    TokenStoreWriter,
    documents,
    encode_batches,
    read_rows,
    source_files,
    text_blocks,
    text_pieces,
)

BATCH_CHARS = 1 << 20  # characters per encode batch (with ENCODE_BATCH pieces at most): ~1 MB of text
Piece = tuple[str, bool]  # (text, whether it ends its document)


@dataclass(frozen=True)
class Corpus:
    """One split's text: files read in `fmt` (its `column` for row formats), or a generated text."""

    key: str  # the config key naming it, for errors: "task.train_path"
    spec: str | None  # a file, glob or directory (None: `generated`)
    fmt: str = "text"  # the resolved format
    column: str = "text"
    split: str = "train"  # the split of a saved Hugging Face dataset
    generated: str | None = None

    def files(self) -> list[Path]:
        """Every file the split reads, in reading order (none for a generated text)."""
        return source_files(self.spec, self.fmt) if self.spec is not None else []

    def identity(self) -> list[Any]:
        """How the text is read, for cache keys (the files' content is keyed by the caller)."""
        return [self.fmt, self.column if self.fmt != "text" else None, self.split if self.fmt == "hf_disk" else None]

    def documents(self) -> Iterator[Iterable[str]]:
        """Each document as text chunks, lazily."""
        if self.spec is None:
            yield [self.generated or ""]
        elif self.fmt == "text":
            yield from (text_blocks(path) for path in documents(self.spec, self.fmt))
        else:
            yield from ([values[0]] for _, values in read_rows(self.spec, [self.column], self.fmt, split=self.split))

    def pieces(self, size: int = PIECE_CHARS) -> Iterator[Piece]:
        """(piece, ends its document) of every document in order; an empty document is one empty piece.
        A reading error names the config key as well as the file and line."""
        try:
            for document in self.documents():
                held = None
                for piece in text_pieces(document, size):
                    if held is not None:
                        yield held, False
                    held = piece
                yield held or "", True
        except DataError as exc:
            raise DataError(f"{self.key}: {exc}") from None

    def texts(self, size: int = PIECE_CHARS) -> Iterator[str]:
        """The pieces' text alone (what a tokenizer trains on)."""
        return (text for text, _ in self.pieces(size))


def piece_batches(pieces: Iterable[Piece], max_pieces: int, max_chars: int) -> Iterator[list[Piece]]:
    """`pieces` in lists of at most `max_pieces` pieces, closed once they reach `max_chars` characters."""
    batch: list[Piece] = []
    chars = 0
    for piece in pieces:
        batch.append(piece)
        chars += len(piece[0])
        if len(batch) >= max_pieces or chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def write_batch(writer: TokenStoreWriter, ids: list[list[int]], ends: list[bool]) -> None:
    """Append one encoded batch of pieces as documents: the pieces of a document joined, the last left open
    when its document goes on in the next batch."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    ends_at = np.cumsum(lengths)[np.flatnonzero(ends)]  # token position after each finished document
    bounds = np.concatenate(([0], ends_at, [] if ends[-1] else [len(flat)])).astype(np.int64)
    writer.append_array(flat, np.diff(bounds), more=not ends[-1])


def encode_corpus(
    corpus: Corpus, tokenizer: Tokenizer, writer: TokenStoreWriter, progress: Progress, size: int = PIECE_CHARS
) -> int:
    """Encode every document of `corpus` into `writer` (the writer's separator ends each); returns the number of
    characters read, each document's end counted as one (as the line break that joins rows), for characters per
    token: a character tokenizer's ids are then exactly one per character."""
    ends: deque[list[bool]] = deque()  # each batch's document ends, in the order encode_batches hands them back
    chars = 0

    def texts() -> Iterator[list[str]]:
        nonlocal chars
        for batch in piece_batches(corpus.pieces(size), ENCODE_BATCH, BATCH_CHARS):
            ends.append([end for _, end in batch])
            texts = [text for text, _ in batch]
            chars += sum(map(len, texts)) + sum(ends[-1])
            yield texts

    for ids in encode_batches(tokenizer, progress.track(texts())):
        write_batch(writer, ids, ends.popleft())
    return chars
