"""The token store: dtype by vocabulary size, ragged round trip, memory-mapped reopening, atomic bounded writing."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framework import Ragged, StoreMeta, TokenStore, TokenStoreWriter, token_dtype
from framework.errors import DataError

SEQS = [[5, 1, 2], [], [7], [3, 3, 3, 3], []]


def write(path: Path, batches: list[list[list[int]]], vocab_size: int = 10, **kwargs: Any) -> TokenStore:
    with TokenStoreWriter(path, vocab_size, **kwargs) as writer:
        for batch in batches:
            writer.append(batch)
    return TokenStore(path)


def as_lists(ragged: Ragged) -> list[list[int]]:
    return [[int(t) for t in ragged[i]] for i in range(len(ragged))]


def test_dtype_follows_the_vocabulary_size() -> None:
    assert token_dtype(7) == np.uint16
    assert token_dtype(65_536) == np.uint16  # ids 0..65535 fit
    assert token_dtype(65_537) == np.uint32
    assert token_dtype(2**32) == np.uint32
    for bad in (0, 2**32 + 1):
        with pytest.raises(DataError, match="vocabularies of 1 to"):
            token_dtype(bad)


def test_ragged_sequences_round_trip_across_batches(tmp_path: Path) -> None:
    store = write(tmp_path / "s", [SEQS[:2], [], SEQS[2:]])
    assert as_lists(store) == SEQS
    assert list(store.lengths()) == [3, 0, 1, 4, 0]
    assert store.flat.dtype == np.uint16 and store.n_tokens == 8
    assert store.meta == StoreMeta("<u2", n_sequences=5, n_tokens=8, vocab_size=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary directory left


def test_wide_vocabulary_stores_uint32(tmp_path: Path) -> None:
    seqs = [[70_000, 0], [65_535, 99_999]]
    store = write(tmp_path / "s", [seqs], vocab_size=100_000)
    assert store.flat.dtype == np.uint32 and as_lists(store) == seqs


def test_separator_ends_every_sequence(tmp_path: Path) -> None:
    store = write(tmp_path / "s", [SEQS], separator=9, describes="lm/train")
    assert as_lists(store) == [s + [9] for s in SEQS]
    assert store.meta.separator == 9 and store.meta.describes == "lm/train"
    assert list(store.flat) == [5, 1, 2, 9, 9, 7, 9, 3, 3, 3, 3, 9, 9]  # the stream an LM reads


def test_reopened_store_is_memory_mapped_read_only(tmp_path: Path) -> None:
    write(tmp_path / "s", [SEQS])
    store = TokenStore(tmp_path / "s")
    assert isinstance(store.flat, np.memmap) and isinstance(store.offsets, np.memmap)
    assert not store.flat.flags.writeable
    assert isinstance(store[3], np.ndarray) and list(store[3]) == [3, 3, 3, 3]


def test_a_store_without_tokens_opens(tmp_path: Path) -> None:
    store = write(tmp_path / "s", [[[], []]])
    assert len(store) == 2 and store.n_tokens == 0 and list(store.lengths()) == [0, 0]


def test_ids_outside_the_vocabulary_are_refused(tmp_path: Path) -> None:
    for bad in ([[1, 10]], [[-1]]):
        with pytest.raises(DataError, match="outside the vocabulary"):
            write(tmp_path / "s", [bad])
        assert list(tmp_path.iterdir()) == []  # nothing published, nothing left behind
    with pytest.raises(DataError, match="separator id 10"):
        TokenStoreWriter(tmp_path / "s", 10, separator=10)


def test_an_error_while_writing_publishes_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), TokenStoreWriter(tmp_path / "s", 10) as writer:
        writer.append(SEQS)
        raise KeyboardInterrupt  # Ctrl-C in the middle of a preparation
    assert list(tmp_path.iterdir()) == []


def test_an_incomplete_directory_is_replaced_and_a_complete_one_kept(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "junk").write_text("half of something")
    assert as_lists(write(tmp_path / "s", [SEQS])) == SEQS
    with TokenStoreWriter(tmp_path / "s", 10) as late:  # a second writer of the same entry finishes later
        late.append([[1]])
        kept = late.commit()
    assert as_lists(kept) == SEQS and sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_writing_holds_one_batch_in_memory(tmp_path: Path) -> None:
    batch = [list(range(100))] * 100  # 10,000 ids per batch
    tracemalloc.start()
    try:
        with TokenStoreWriter(tmp_path / "s", 200) as writer:
            for _ in range(100):  # 1,000,000 ids: 8 MB as int64, 2 MB on disk
                writer.append(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert TokenStore(tmp_path / "s").n_tokens == 1_000_000
    assert peak < 1_000_000  # a few batches' worth, not the corpus


def test_a_sequence_written_in_parts_ends_once_with_its_separator(tmp_path: Path) -> None:
    with TokenStoreWriter(tmp_path / "s", 10, separator=9) as writer:
        writer.append_array(np.array([1, 2, 3]), np.array([1, 2]), more=True)  # [1] ends, [2, 3] goes on
        writer.append_array(np.array([4]), np.array([1]), more=True)  # still going on
        writer.append_array(np.array([], dtype=np.int64), np.array([], dtype=np.int64))  # nothing: still open
        writer.append_array(np.array([5, 6]), np.array([1, 1]))  # [2, 3, 4, 5] ends, then [6]
        writer.extra["characters"] = 12
    store = TokenStore(tmp_path / "s")
    assert as_lists(store) == [[1, 9], [2, 3, 4, 5, 9], [6, 9]]
    assert store.meta.extra == {"characters": 12}


def test_an_unfinished_sequence_publishes_nothing(tmp_path: Path) -> None:
    writer = TokenStoreWriter(tmp_path / "s", 10)
    writer.append_array(np.array([1, 2]), np.array([2]), more=True)
    with pytest.raises(RuntimeError, match="never finished"):
        writer.commit()
    assert not (tmp_path / "s").exists() and list(tmp_path.iterdir()) == []
