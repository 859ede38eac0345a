"""Parallel batch encoding gives the library's own ids; byte limits cut streams; the thread pool follows the plan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from data_fixtures import corpus

from framework import batched, encode_batches, limit_bytes
from framework.data.encode import tokenizer_threads
from framework.tokenizer import Tokenizer


def test_encode_batches_equals_one_encode_batch_of_everything(bpe: Tokenizer) -> None:
    texts = corpus(1000, seed=1)
    batches = list(encode_batches(bpe, batched(texts, 37)))  # an uneven last batch
    assert [len(b) for b in batches] == [37] * 27 + [1]
    assert [ids for batch in batches for ids in batch] == bpe.encode_batch(texts)
    assert list(encode_batches(bpe, [])) == []


def test_stopping_early_or_failing_does_not_hang(bpe: Tokenizer) -> None:
    stream = encode_batches(bpe, batched(corpus(100), 10))
    assert len(next(stream)) == 10
    stream.close()  # the caller stops after one batch

    def broken() -> Iterator[list[str]]:
        yield ["fine"]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(encode_batches(bpe, broken()))


def strict(texts: list[str]) -> Iterator[str]:
    """The texts, then an error: a limit must never read past the text that reached it."""
    yield from texts
    raise AssertionError("read past the limit")


def test_limit_bytes_cuts_at_the_limit_and_reads_no_further() -> None:
    assert list(limit_bytes(["ab", "cd"], None)) == ["ab", "cd"]
    assert list(limit_bytes(strict(["ab", "cd", "ef"]), 3)) == ["ab", "c"]
    assert list(limit_bytes(strict(["ab", "cd"]), 4)) == ["ab", "cd"]  # exactly at the limit: stop there
    assert list(limit_bytes(strict(["ab"]), 0)) == []
    assert list(limit_bytes(["ab"], 10)) == ["ab"]  # fewer bytes than the limit: everything


def test_limit_bytes_counts_utf8_and_never_splits_a_character() -> None:
    assert list(limit_bytes(strict(["é", "éé", "x"]), 3)) == ["é"]  # 2 bytes, then 1 left: no é fits
    assert list(limit_bytes(strict(["é", "éé", "x"]), 4)) == ["é", "é"]  # 2 + 2 bytes: one é of "éé" fits
    assert list(limit_bytes(strict(["aé"]), 2)) == ["a"]  # half an é is dropped, not mangled
    out = list(limit_bytes(corpus(200), 1000))
    assert sum(len(t.encode()) for t in out) <= 1000


def test_tokenizer_threads_follow_the_plan_unless_the_user_chose() -> None:
    env: dict[str, str] = {}
    assert "the thread plan" in tokenizer_threads(3, env) and env == {"RAYON_NUM_THREADS": "3"}
    env = {"RAYON_NUM_THREADS": "8"}
    assert "by the user" in tokenizer_threads(2, env) and env["RAYON_NUM_THREADS"] == "8"
    env = {"RAYON_RS_NUM_CPUS": "4"}
    tokenizer_threads(2, env)
    assert "RAYON_NUM_THREADS" not in env
