"""Tokenize once: token ids of a list of texts, kept in a token store on disk and memory-mapped on the next run.

The key is a hash of the texts exactly as read from the data files (so any change to the data changes
it), of the tokenizer's saved files, and of a tag naming what was encoded. Each entry is a token store
(`framework.TokenStore`): prepared once per node under a lock, written to a temporary directory and renamed
into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from framework import (
    ENCODE_BATCH,
    Ragged,
    Tokenizer,
    TokenStoreWriter,
    batched,
    directory_digest,
    encode_batches,
    prepare_store,
)

log = logging.getLogger(__name__)

__all__ = ["CACHE_ENV", "STATS", "Ragged", "TokenCache", "cache_root", "encode", "texts_digest", "tokenizer_digest"]

CACHE_ENV = "PLAIT_CACHE_DIR"
STATS = {"hits": 0, "misses": 0}  # process-wide counters (tests read them)


def cache_root(configured: str | None) -> Path:
    """Where caches live: `configured`, else $PLAIT_CACHE_DIR, else ~/.cache/plait (XDG_CACHE_HOME honoured)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "plait"


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
    """Token ids of `texts` in memory, encoded in parallel batches."""
    return Ragged.from_lists(
        [ids for batch in encode_batches(tokenizer, batched(texts, ENCODE_BATCH)) for ids in batch]
    )


class TokenCache:
    """Encodes texts with one tokenizer, reusing ids stored under `root` (None: no caching)."""

    def __init__(self, tokenizer: Tokenizer, root: Path | None) -> None:
        self.tokenizer = tokenizer
        self.root = root
        self.tokenizer_hash = tokenizer_digest(tokenizer) if root is not None else ""

    def encode(self, texts: list[str], tag: str) -> Ragged:
        """Token ids of `texts` (a memory-mapped store when caching); `tag` says what they are (e.g. "sentiment/train/text")."""
        if self.root is None:
            return encode(self.tokenizer, texts)
        key = hashlib.sha256(f"{tag}\0{self.tokenizer_hash}\0{texts_digest(texts)}".encode()).hexdigest()
        filled = False

        def fill(writer: TokenStoreWriter) -> None:
            nonlocal filled
            filled = True
            for ids in encode_batches(self.tokenizer, batched(texts, ENCODE_BATCH)):
                writer.append(ids)

        entry = self.root / "tokens" / key[:2] / key
        store = prepare_store(entry, fill, vocab_size=self.tokenizer.vocab_size, describes=tag)
        STATS["misses" if filled else "hits"] += 1
        if filled:
            log.info("tokenized %d texts (%s) -> %s", len(texts), tag, entry)
        return store
