"""The token store: token ids of many sequences in one directory, memory-mapped for training.

A store is a directory holding `tokens.bin` (every id, end to end), `offsets.bin` (n + 1 int64 positions:
sequence i is tokens[offsets[i]:offsets[i + 1]]) and `meta.json` (dtype, counts, vocabulary size, what it
encodes). Ids are uint16 while the vocabulary fits (<= 65,536 ids), else uint32, as nanoGPT's token files.
Opening maps both files read-only: a split of any size costs page cache, not process memory. A store only
ever appears under its final name complete (`store_writer.TokenStoreWriter` renames it into place).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framework.errors import DataError

TOKENS_FILE = "tokens.bin"
OFFSETS_FILE = "offsets.bin"
META_FILE = "meta.json"  # written last: a directory with it is a complete store
STORE_FORMAT = 1
OFFSET_DTYPE = np.dtype("<i8")
UINT16_IDS = 1 << 16
UINT32_IDS = 1 << 32


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest id type for a vocabulary: uint16 up to 65,536 ids, else uint32 (little-endian on disk)."""
    if vocab_size < 1 or vocab_size > UINT32_IDS:
        raise DataError(f"a token store holds vocabularies of 1 to {UINT32_IDS} ids, not {vocab_size}")
    return np.dtype("<u2") if vocab_size <= UINT16_IDS else np.dtype("<u4")


@dataclass
class Ragged:
    """Variable-length token id sequences: one flat id array plus offsets (n + 1), in memory or memory-mapped."""

    flat: np.ndarray  # (total tokens,) ids
    offsets: np.ndarray  # (n + 1,) int64; sequence i is flat[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        """Length of every sequence."""
        return np.diff(self.offsets)

    @classmethod
    def from_arrays(cls, seqs: Sequence[np.ndarray | list[int]]) -> Ragged:
        """Pack id sequences (arrays or lists, any integer type) into one int64 array in memory."""
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64)
        return cls(flat, offsets)

    @classmethod
    def from_lists(cls, seqs: list[list[int]]) -> Ragged:
        """Pack python lists of ids in memory (int32)."""
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)


@dataclass(frozen=True)
class StoreMeta:
    """What `meta.json` records: enough to map the files and to say what they hold."""

    dtype: str  # numpy dtype string of the ids, "<u2" or "<u4"
    n_sequences: int
    n_tokens: int
    vocab_size: int
    describes: str = ""  # what was encoded, e.g. "sentiment/train/text"
    separator: int | None = None  # id appended after every sequence (LM document boundaries), if any
    format: int = STORE_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)  # what the preparer adds (e.g. characters read)

    def to_json(self) -> str:
        """The meta as the JSON text of `meta.json`."""
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def read(cls, directory: Path) -> StoreMeta:
        """The meta of the store in `directory`; an unknown format is an error saying to delete the entry."""
        data: dict[str, Any] = json.loads((directory / META_FILE).read_text())
        if data.get("format") != STORE_FORMAT:
            raise DataError(
                f"{directory}: token store format {data.get('format')!r}, this Plait reads {STORE_FORMAT}; "
                "delete the directory and it is prepared again"
            )
        return cls(**data)


def is_complete(directory: Path) -> bool:
    """Whether `directory` holds a complete store (its meta, written last, is there)."""
    return (directory / META_FILE).is_file()


def _map(path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    """`count` items of `dtype` from `path`, memory-mapped read-only (an empty file maps to an empty array)."""
    expected = count * dtype.itemsize
    if path.stat().st_size != expected:
        raise DataError(f"{path}: {path.stat().st_size} bytes, its meta says {expected}; delete the store directory")
    if count == 0:  # mmap cannot map zero bytes
        return np.empty(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


class TokenStore(Ragged):
    """A complete store opened read-only: `flat` and `offsets` are memory maps, nothing is read into memory."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory)
        if not is_complete(self.path):
            raise DataError(f"{self.path} is not a complete token store (no {META_FILE})")
        self.meta = StoreMeta.read(self.path)
        flat = _map(self.path / TOKENS_FILE, np.dtype(self.meta.dtype), self.meta.n_tokens)
        offsets = _map(self.path / OFFSETS_FILE, OFFSET_DTYPE, self.meta.n_sequences + 1)
        super().__init__(flat, offsets)
        # plain ndarray views of the same maps: a row sliced from them skips np.memmap's Python-level
        # __getitem__ (1.6 -> 0.3 us per row, what gathering a batch's rows costs)
        self._ids, self._ends = flat.view(np.ndarray), offsets.view(np.ndarray)

    def __getitem__(self, i: int) -> np.ndarray:
        return self._ids[self._ends[i] : self._ends[i + 1]]

    def lengths(self) -> np.ndarray:
        """Length of every sequence."""
        return np.diff(self._ends)

    @property
    def n_tokens(self) -> int:
        """Total ids in the store."""
        return self.meta.n_tokens

    def __repr__(self) -> str:
        m = self.meta
        return f"TokenStore({str(self.path)!r}, {m.n_sequences} sequences, {m.n_tokens} {m.dtype} ids)"
