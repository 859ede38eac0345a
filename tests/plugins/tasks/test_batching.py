"""Length-bucketed batches: every example once per epoch, deterministic per seed, little padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from framework.data.token_store import Ragged
from plugins.tasks.batching import PaddedRows, bucketed_batches, pad, pad_rows


def test_every_index_once_and_same_seed_same_order() -> None:
    lengths = np.random.default_rng(0).integers(1, 50, size=1000)
    batches = bucketed_batches(lengths, 16, seed=7, pool_batches=4)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucketed_batches(lengths, 16, seed=7, pool_batches=4)
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))
    other = bucketed_batches(lengths, 16, seed=8, pool_batches=4)
    assert not all(len(a) == len(b) and (a == b).all() for a, b in zip(batches, other, strict=False))


def test_bucketing_pads_less_than_random_batches() -> None:
    lengths = np.random.default_rng(1).integers(1, 100, size=2000)

    def padding(batches: list[np.ndarray]) -> int:
        return int(sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches))

    random = [np.random.default_rng(2).permutation(2000)[i : i + 32] for i in range(0, 2000, 32)]
    assert padding(bucketed_batches(lengths, 32, seed=2, pool_batches=50)) < padding(random) / 5


def test_pools_of_one_batch_are_plain_shuffled_batches() -> None:
    plain = torch.randperm(100, generator=torch.Generator().manual_seed(4))
    batches = bucketed_batches(np.ones(100), 10, seed=4, pool_batches=1)
    assert [b.tolist() for b in batches] == [plain[i : i + 10].tolist() for i in range(0, 100, 10)]


def test_evaluation_order_is_length_sorted() -> None:
    batches = bucketed_batches(np.array([5, 1, 3, 2]), 2, seed=None, pool_batches=50)
    assert [b.tolist() for b in batches] == [[1, 3], [2, 0]]


def test_pad_truncates_adds_markers_and_masks() -> None:
    ids, mask = pad([[5, 6, 7, 8], [9], []], 0, max_length=3, prefix=1, empty_id=2)
    assert ids.tolist() == [[1, 5, 6], [1, 9, 0], [1, 2, 0]]
    assert mask.tolist() == [[True, True, True], [True, True, False], [True, True, False]]
    ids, mask = pad([[5, 6, 7, 8]], 0, max_length=3, suffix=3)
    assert ids.tolist() == [[5, 6, 3]] and mask.all()


def padded_one_by_one(
    seqs: list[list[int]], pad_id: int, **options: int | None
) -> tuple[list[list[int]], list[list[bool]]]:
    """The reference: each row built as a Python list (what `pad` did before it filled numpy rows)."""
    max_length, prefix, suffix, empty_id = (options.get(k) for k in ("max_length", "prefix", "suffix", "empty_id"))
    extra = (prefix is not None) + (suffix is not None)
    rows = []
    for seq in seqs:
        body = list(seq[: max_length - extra] if max_length is not None else seq)
        body = [empty_id] if not body and empty_id is not None else body
        rows.append(([prefix] if prefix is not None else []) + body + ([suffix] if suffix is not None else []))
    width = max(max((len(r) for r in rows), default=0), 1)
    return [r + [pad_id] * (width - len(r)) for r in rows], [[i < len(r) for i in range(width)] for r in rows]


def test_pad_matches_building_each_row_on_random_batches() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        seqs = [rng.integers(4, 50, size=int(rng.integers(0, 12))) for _ in range(int(rng.integers(1, 9)))]
        options = {
            "max_length": int(rng.integers(3, 14)) if trial % 3 else None,
            "prefix": 1 if trial % 2 else None,
            "suffix": 2 if trial % 5 < 2 else None,
            "empty_id": 3 if trial % 7 < 3 else None,
        }
        ids, mask = pad(seqs if trial % 4 else [s.tolist() for s in seqs], 0, **options)
        want_ids, want_mask = padded_one_by_one([s.tolist() for s in seqs], 0, **options)
        assert ids.dtype == torch.long and mask.dtype == torch.bool
        assert ids.tolist() == want_ids and mask.tolist() == want_mask, (trial, options)


def test_pad_rows_of_a_memory_mapped_store_matches_padding_each_row(tmp_path: Path) -> None:
    """Batches gathered straight from a (memory-mapped, uint16) ragged store equal padding each row's slice."""
    rng = np.random.default_rng(1)
    seqs = [rng.integers(4, 500, size=int(rng.integers(0, 15))) for _ in range(200)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    np.concatenate(seqs).astype("<u2").tofile(tmp_path / "flat.bin")
    rows = Ragged(np.memmap(tmp_path / "flat.bin", dtype="<u2", mode="r"), offsets)
    for trial in range(100):
        idx = rng.choice(len(seqs), size=int(rng.integers(1, 20)), replace=False)
        options = {
            "max_length": int(rng.integers(2, 12)) if trial % 3 else None,
            "prefix": 1 if trial % 2 else None,
            "suffix": 2 if trial % 5 < 2 else None,
            "empty_id": 3 if trial % 7 < 3 else None,
        }
        ids, mask = pad_rows(rows, idx, 0, **options)
        want_ids, want_mask = padded_one_by_one([seqs[i].tolist() for i in idx], 0, **options)
        assert ids.tolist() == want_ids and mask.tolist() == want_mask, (trial, options)


def test_padded_rows_gather_matches_padding_the_chosen_rows() -> None:
    """One fancy-index gather gives what padding the chosen rows (truncated, empty ones as [empty_id]) would;
    row -1 is an all-pad row; the count is of the real ids."""
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 50, size=rng.integers(0, 9)) for _ in range(40)]
    table = PaddedRows.build(seqs, pad_id=0, max_length=6, empty_id=99)
    assert len(table) == 40
    for _ in range(50):
        rows = rng.integers(-1, 40, size=(3, 4))
        got, tokens = table.gather(rows)
        flat = [seqs[r] if r >= 0 else None for r in rows.ravel()]
        bodies = [[] if s is None else (list(s[:6]) or [99]) for s in flat]
        width = max(1, *map(len, bodies))
        expected = torch.tensor([b + [0] * (width - len(b)) for b in bodies]).reshape(3, 4, width)
        assert got.dtype == torch.long and torch.equal(got, expected)
        assert tokens == int((expected != 0).sum())
    assert table.gather(np.array([-1, -1]))[0].tolist() == [[0], [0]]  # all padding: still one column
