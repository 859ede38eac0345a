"""Tokenize once: token ids of texts, kept in a token store on disk and memory-mapped on the next run.

The key is a hash of what the texts are (a list's texts themselves; for streamed texts, a key the caller gives:
their files' sizes and content hashes, the reader's options and the rows picked), of the tokenizer's saved files,
and of a tag naming what was encoded. Each entry is a token store
(`framework.TokenStore`): prepared once per node under a lock, written to a temporary directory and renamed
into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from framework import (
    ENCODE_BATCH,
    Ragged,
    Tokenizer,
    TokenStore,
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
        return self.encode_stream(lambda: batched(texts, ENCODE_BATCH), texts_digest(texts), tag)

    def encode_stream(self, batches: Callable[[], Iterable[list[str]]], key: str, tag: str) -> TokenStore:
        """Token ids of the texts `batches()` yields, as a memory-mapped store under `root`: `key` says what the
        texts are (their files' hashes, the reader's options, the rows picked), so they are only read on a miss."""
        if self.root is None:
            raise ValueError("encode_stream needs a cache root (a scratch directory when caching is off)")
        entry_key = hashlib.sha256(f"{tag}\0{self.tokenizer_hash}\0{key}".encode()).hexdigest()
        filled = False

        def fill(writer: TokenStoreWriter) -> None:
            nonlocal filled
            filled = True
            for ids in encode_batches(self.tokenizer, batches()):
                writer.append(ids)

        entry = self.root / "tokens" / entry_key[:2] / entry_key
        store = prepare_store(entry, fill, vocab_size=self.tokenizer.vocab_size, describes=tag)
        STATS["misses" if filled else "hits"] += 1
        if filled:
            log.info("tokenized %d texts (%s) -> %s", store.meta.n_sequences, tag, entry)
        return store
