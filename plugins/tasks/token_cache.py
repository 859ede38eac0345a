"""Tokenize once: token ids of a list of texts, stored on disk as .npy files and memory-mapped on the next run.

The key is a hash of the texts exactly as read from the data files (so any change to the data changes
it), of the tokenizer's saved files, and of a tag naming what was encoded. A cache entry is written to a
temporary directory and renamed into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framework import Tokenizer, directory_digest
from framework import cache_root as cache_root  # the tasks import it from here

log = logging.getLogger(__name__)

ENCODE_CHUNK = 4096  # texts per encode_batch call
STATS = {"hits": 0, "misses": 0}  # process-wide counters (tests read them)


@dataclass
class Ragged:
    """Variable-length token id sequences: one flat int32 array plus offsets (n + 1)."""

    flat: np.ndarray  # (total tokens,) int32, possibly memory-mapped
    offsets: np.ndarray  # (n + 1,) int64; sequence i is flat[offsets[i]:offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        """Length of every sequence."""
        return np.diff(self.offsets)

    @classmethod
    def from_lists(cls, seqs: list[list[int]]) -> Ragged:
        """Pack python lists of ids."""
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)


def tokenizer_digest(tokenizer: Tokenizer) -> str:
    """sha256 of everything the tokenizer saves: equal digests mean equal encodings."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(Path(tmp))
        return directory_digest(Path(tmp), salt=type(tokenizer).__qualname__)


def texts_digest(texts: list[str]) -> str:
    """sha256 of a list of texts (lengths included, so joining differently changes it)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def encode(tokenizer: Tokenizer, texts: list[str]) -> Ragged:
    """Token ids of `texts`, encoded in chunks."""
    seqs: list[list[int]] = []
    for start in range(0, len(texts), ENCODE_CHUNK):
        seqs.extend(tokenizer.encode_batch(texts[start : start + ENCODE_CHUNK]))
    return Ragged.from_lists(seqs)


class TokenCache:
    """Encodes texts with one tokenizer, reusing ids stored under `root` (None: no caching)."""

    def __init__(self, tokenizer: Tokenizer, root: Path | None) -> None:
        self.tokenizer = tokenizer
        self.root = root
        self.tokenizer_hash = tokenizer_digest(tokenizer) if root is not None else ""

    def encode(self, texts: list[str], tag: str) -> Ragged:
        """Token ids of `texts`; `tag` says what they are (e.g. "sentiment/train/text")."""
        if self.root is None:
            return encode(self.tokenizer, texts)
        key = hashlib.sha256(f"{tag}\0{self.tokenizer_hash}\0{texts_digest(texts)}".encode()).hexdigest()
        entry = self.root / "tokens" / key[:2] / key
        if (entry / "offsets.npy").is_file():
            STATS["hits"] += 1
            return Ragged(np.load(entry / "flat.npy", mmap_mode="r"), np.load(entry / "offsets.npy"))
        STATS["misses"] += 1
        ragged = encode(self.tokenizer, texts)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:8]}-", dir=entry.parent))
        np.save(tmp / "flat.npy", ragged.flat)
        np.save(tmp / "offsets.npy", ragged.offsets)  # written last: its presence marks a complete entry
        try:
            os.replace(tmp, entry)
        except OSError:  # another process wrote the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("tokenized %d texts (%s) -> %s", len(texts), tag, entry)
        return ragged
