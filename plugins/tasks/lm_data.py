"""Each language-modelling split as token ids memory-mapped from a token store in the cache, prepared on first use.

A split with its own files has its own store, keyed by the tokenizer, the end-of-text id, how the files are read
and their sizes and content hashes (so any change to the data or the tokenizer prepares a new one). Without a
val file, train and val are views of the training store: the first and the last `val_ratio` of its tokens.
The tokenizer trains on the training files streamed piece by piece, and is kept in the cache under a key of that
data, so a second run with the same data and tokenizer options loads it instead of training again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from framework import (
    PIECE_CHARS,
    DataError,
    Progress,
    Tokenizer,
    TokenizerFactory,
    TokenStore,
    TokenStoreWriter,
    compression,
)
from plugins.tasks.configs import LanguageModelDataConfig
from plugins.tasks.demo_corpora import lm_text
from plugins.tasks.lm_corpus import Corpus, encode_corpus
from plugins.tasks.streaming import (
    TOKENIZERS_DIR,
    cached_store,
    content_key,
    data_key,
    file_records,
    store_row,
    timed,
)
from plugins.tasks.text_data import check_path, detect_format, path_key, split_paths
from plugins.tasks.token_cache import cache_root, tokenizer_digest

STORE_VERSION = 1  # of how text becomes ids here (pieces, end-of-text ids): part of every key


def counted(texts: Iterable[str], progress: Progress) -> Iterator[str]:
    """`texts` unchanged, each counted by `progress` (which is closed when they end)."""
    with progress:
        for text in texts:
            progress.update(1, len(text) if text.isascii() else len(text.encode("utf-8")))
            yield text


class LanguageModelData:
    """The token ids of each split of one task config, and what preparing them read, did and took."""

    def __init__(self, cfg: LanguageModelDataConfig) -> None:
        self.cfg = cfg
        self.root = cache_root(cfg.cache_dir) if cfg.cache else None
        self.tokenizer: Tokenizer | None = None
        self.rows: list[dict[str, Any]] = []  # what was prepared or found, timed (`plait prepare` prints them)
        self.files: dict[str, list[dict[str, Any]]] = {}  # split -> {path, bytes, sha256} of each file read
        self._stores: dict[str, TokenStore] = {}
        self._tokenizer_hash = ""

    def corpus(self, split: str) -> Corpus:
        """Where the text of `split` comes from: its configured files, or the generated demo text for train."""
        c = self.cfg
        if split == "train" and c.train_path is None:
            return Corpus("task.train_path", None, generated=lm_text(c.demo_size, c.seed))
        path = split_paths(c).get(split)
        key = path_key(split)
        if not path:
            raise DataError(f"the task has no '{split}' data; point it at a file with {key}=<file>")
        check_path(path, key)
        try:
            return Corpus(key, path, detect_format(path, str(c.format)), c.text_column, split)
        except DataError as exc:
            raise DataError(f"{key}: {exc}") from None

    def identity(self, split: str, corpus: Corpus) -> list[Any]:
        """What the text of `split` is, for keys: how it is read and its files' sizes and hashes (recorded)."""
        if corpus.generated is not None:
            return ["generated", hashlib.sha256(corpus.generated.encode()).hexdigest()]
        if split not in self.files:
            with timed(self.rows, {"step": f"files {split}"}) as row:
                try:
                    paths = corpus.files()
                except DataError as exc:
                    raise DataError(f"{corpus.key}: {exc}") from None
                self.files[split], hashed = file_records(paths, self.root)
                row.update(files=len(paths), bytes=sum(r["bytes"] for r in self.files[split]), hashed=hashed)
        return [*corpus.identity(), content_key(self.files[split])]

    def _total_bytes(self, split: str, corpus: Corpus) -> int | None:
        """The size of the text to read, the end of progress bars: known for uncompressed plain-text files."""
        files = self.files.get(split, [])
        if corpus.fmt != "text" or any(compression(Path(r["path"])) for r in files):
            return None
        return sum(r["bytes"] for r in files) or None

    def train_tokenizer(self, factory: TokenizerFactory) -> Tokenizer:
        """The tokenizer from `factory`, trained on the training text streamed (or reused from the cache)."""
        corpus = self.corpus("train")
        reuse = None
        if self.root is not None:
            reuse = self.root / TOKENIZERS_DIR / data_key("language_modeling", self.identity("train", corpus))
        trained = False

        def texts() -> Iterator[str]:
            nonlocal trained
            trained = True
            what = f"training the tokenizer on {corpus.key}"
            return counted(corpus.texts(PIECE_CHARS), Progress(what, total_bytes=self._total_bytes("train", corpus)))

        with timed(self.rows, {"step": "tokenizer"}) as row:
            self.tokenizer = factory("text", texts, reuse=reuse)
            row["state"] = "trained" if trained else "loaded"
        return self.tokenizer

    def store(self, split: str) -> TokenStore:
        """The token store of a split with its own text, prepared in the cache on first use."""
        if split in self._stores:
            return self._stores[split]
        tokenizer = self.tokenizer
        if tokenizer is None:
            raise RuntimeError("the language-modelling data needs its tokenizer first")
        corpus = self.corpus(split)
        identity = self.identity(split, corpus)
        self._tokenizer_hash = self._tokenizer_hash or tokenizer_digest(tokenizer)
        eos = tokenizer.special_id("eos")
        key = data_key("language_modeling/tokens", STORE_VERSION, self._tokenizer_hash, eos, identity, PIECE_CHARS)

        def fill(writer: TokenStoreWriter) -> None:
            with Progress(f"tokenizing {corpus.key}", total_bytes=self._total_bytes(split, corpus)) as progress:
                chars = encode_corpus(corpus, tokenizer, writer, progress, PIECE_CHARS)
            if chars <= writer.n_sequences:  # nothing but document ends
                raise DataError(f"{corpus.key}={corpus.spec}: no text; point it at a file with text")
            writer.extra["characters"] = chars

        with timed(self.rows, {}) as row:
            store, filled = cached_store(
                self.root, key, fill, vocab_size=tokenizer.vocab_size, separator=eos, describes=f"lm/{split}"
            )
            row.update(store_row(split, store, filled))
        self._stores[split] = store
        return store

    def tokens(self, split: str) -> tuple[np.ndarray, float]:
        """(the ids of `split`, memory-mapped; the characters per token of its text). Without a val file, train
        and val are the first and the last `val_ratio` of the training store's tokens."""
        held_out = split in ("train", "val") and self.cfg.val_path is None
        store = self.store("train" if held_out else split)
        ids = store.flat
        if held_out:
            cut = int(store.n_tokens * (1 - self.cfg.val_ratio))
            ids = ids[:cut] if split == "train" else ids[cut:]
        return ids, int(store.meta.extra.get("characters", store.n_tokens)) / max(store.n_tokens, 1)
