"""What the streaming text tasks share: the record of a split's files (content hashes remembered per file state,
so a second run reads no file to know it), cache keys built from it, token stores prepared in the cache (or in a
temporary directory when caching is off), and timed rows saying what was prepared (`plait prepare` prints them).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from framework import DataFile, TokenStore, TokenStoreWriter, atomic_write, prepare_store
from plugins.tasks.token_cache import STATS

HASHES_DIR = "file_hashes"  # under the cache root: one small JSON per file state (path, size, times, inode)
TOKENS_DIR = "tokens"
TOKENIZERS_DIR = "tokenizers"
_TEMP: dict[str, Path] = {}  # the process's temporary store root when caching is off


def data_key(*parts: Any) -> str:
    """sha256 of `parts` as JSON: equal parts, equal key."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_record(path: Path, memo: Path | None) -> tuple[dict[str, Any], bool]:
    """({path, bytes, sha256}, whether it was hashed now): a file whose path, size, modification and change
    times and inode are those remembered under `memo` is not read again."""
    stat = path.stat()
    state = [str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    entry = memo / f"{data_key(state)}.json" if memo is not None else None
    if entry is not None and entry.is_file():
        with contextlib.suppress(ValueError, OSError):
            return {"path": str(path), **json.loads(entry.read_text())}, False
    record = asdict(DataFile.of(path))
    if entry is not None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(entry, json.dumps({"bytes": record["bytes"], "sha256": record["sha256"]}))
    return record, True


def file_records(paths: list[Path], root: Path | None) -> tuple[list[dict[str, Any]], int]:
    """The records of `paths` in order, and how many were hashed now (the rest came from `root`'s memo)."""
    memo = root / HASHES_DIR if root is not None else None
    pairs = [file_record(p, memo) for p in paths]
    return [record for record, _ in pairs], sum(hashed for _, hashed in pairs)


def content_key(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """What identifies the files' data in a key: their sizes and content hashes in order (not their paths)."""
    return [(r["bytes"], r["sha256"]) for r in records]


def store_root(root: Path | None) -> Path:
    """Where stores go: the cache root, or (caching off) a temporary directory removed when the process ends."""
    if root is not None:
        return root
    if "root" not in _TEMP:
        _TEMP["root"] = Path(tempfile.mkdtemp(prefix="plait-tokens-"))
        atexit.register(shutil.rmtree, _TEMP["root"], True)
    return _TEMP["root"]


def cached_store(
    root: Path | None,
    key: str,
    fill: Callable[[TokenStoreWriter], None],
    *,
    vocab_size: int,
    separator: int | None = None,
    describes: str = "",
) -> tuple[TokenStore, bool]:
    """(the store of `key`, whether this process filled it): opened when complete, else filled once per node."""
    filled = False

    def counted(writer: TokenStoreWriter) -> None:
        nonlocal filled
        filled = True
        fill(writer)

    entry = store_root(root) / TOKENS_DIR / key[:2] / key
    store = prepare_store(entry, counted, vocab_size=vocab_size, separator=separator, describes=describes)
    STATS["misses" if filled else "hits"] += 1
    return store, filled


def store_row(split: str, store: TokenStore, filled: bool) -> dict[str, Any]:
    """What `plait prepare` says about one store: where, how many ids of which type, how big, made now or found."""
    size = sum(f.stat().st_size for f in store.path.iterdir() if f.is_file())
    meta = store.meta
    return {
        "step": f"tokens {split}",
        "store": str(store.path),
        "tokens": meta.n_tokens,
        "dtype": meta.dtype,
        "sequences": meta.n_sequences,
        "bytes": size,
        "state": "prepared" if filled else "cached",
    }


@contextlib.contextmanager
def timed(rows: list[dict[str, Any]], row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Append `row` to `rows` with the seconds the block took (the block may add to the row)."""
    start = time.perf_counter()
    yield row
    row["seconds"] = round(time.perf_counter() - start, 3)
    rows.append(row)
