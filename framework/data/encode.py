"""Encoding records in parallel batches with the `tokenizers` library's own threads, and cutting streams.

`encode_batches` hands each batch of records to `Tokenizer.encode_batch` (for the HF-backed tokenizers one
Rust call that spreads the batch over the library's thread pool, with the GIL released) from a worker thread,
so reading the next batch and writing the previous one overlap the encoding. The pool's size is fixed the first time it is used, from
RAYON_NUM_THREADS; `tokenizer_threads(n)` sets that from Plait's thread plan when the user did not, so the
library uses the same CPUs torch was given (plan_threads in framework/engine/threads.py). It leaves
TOKENIZERS_PARALLELISM alone: set to true it would also keep parallelism on in forked children (DataLoader
workers), where the library's pool does not exist and would hang.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor

from framework.tokenizer import Tokenizer

ENCODE_BATCH = 10_000  # records per encode_batch call: big enough to keep every thread busy, small in memory
THREADS_ENV = "RAYON_NUM_THREADS"
USER_THREAD_ENVS = (THREADS_ENV, "RAYON_RS_NUM_CPUS")


def tokenizer_threads(n: int, environ: MutableMapping[str, str] | None = None) -> str:
    """Size the `tokenizers` thread pool to `n` threads unless the user set it; returns what applies, and why.

    Takes effect only before the library's first parallel call in this process (its pool is built once)."""
    environ = os.environ if environ is None else environ
    for key in USER_THREAD_ENVS:
        if environ.get(key, "").strip():
            return f"{key}={environ[key]} (set by the user)"
    environ[THREADS_ENV] = str(max(1, n))
    return f"{THREADS_ENV}={environ[THREADS_ENV]} (the thread plan)"


def encode_batches(tokenizer: Tokenizer, record_batches: Iterable[list[str]]) -> Iterator[list[list[int]]]:
    """Token ids of each batch of records, in order. Batch k + 1 is encoded in a worker thread while the caller
    uses batch k and batch k + 2 is read: at most three batches in memory, whatever the corpus size."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="plait-encode") as pool:
        pending: Future[list[list[int]]] | None = None
        try:
            for batch in record_batches:
                submitted = pool.submit(tokenizer.encode_batch, batch)
                if pending is not None:
                    yield pending.result()
                pending = submitted
            if pending is not None:
                yield pending.result()
                pending = None
        finally:
            if pending is not None:  # the caller stopped early or failed: do not wait for unwanted work
                pending.cancel()


def limit_bytes(texts: Iterable[str], max_bytes: int | None) -> Iterator[str]:
    """The texts up to `max_bytes` UTF-8 bytes in all (None: every text): the text that reaches the limit is
    cut after the last whole character that fits, and no text after it is read."""
    if max_bytes is None:
        yield from texts
        return
    left = max_bytes
    if left <= 0:
        return
    for text in texts:
        ascii_only = text.isascii()
        size = len(text) if ascii_only else len(text.encode("utf-8"))
        if size < left:
            left -= size
            yield text
            continue
        cut = text[:left] if ascii_only else text.encode("utf-8")[:left].decode("utf-8", errors="ignore")
        if cut:
            yield cut
        return
