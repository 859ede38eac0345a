"""Tokenize once: a second run reads the ids from disk; new data or a new tokenizer invalidates them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from tiny import char_factory as factory

from framework import TokenStore
from framework.kinds import TASKS
from framework.tokenizer import Tokenizer
from plugins.tasks.token_cache import STATS, TokenCache, cache_root


def char_tokenizer(texts: Iterable[str]) -> Tokenizer:
    return factory("text", lambda: texts)


def counts() -> tuple[int, int]:
    return STATS["hits"], STATS["misses"]


def test_second_encode_hits_and_matches(tmp_path: Path) -> None:
    texts = ["hello world", "", "héllo"]
    tok = char_tokenizer(texts)
    first = TokenCache(tok, tmp_path).encode(texts, "t")
    hits, misses = counts()
    again = TokenCache(char_tokenizer(texts), tmp_path).encode(texts, "t")  # an equal, freshly trained tokenizer
    assert counts() == (hits + 1, misses)
    assert isinstance(again.flat, np.memmap)  # memory-mapped, not re-read into memory
    assert [list(again[i]) for i in range(3)] == [list(first[i]) for i in range(3)] == tok.encode_batch(texts)


def test_changed_texts_or_tokenizer_miss(tmp_path: Path) -> None:
    tok = char_tokenizer(["abc", "abd"])
    TokenCache(tok, tmp_path).encode(["abc"], "t")
    hits, misses = counts()
    TokenCache(tok, tmp_path).encode(["abd"], "t")  # other data
    TokenCache(char_tokenizer(["abcdefg"]), tmp_path).encode(["abc"], "t")  # other tokenizer
    assert counts() == (hits, misses + 2)


def test_cache_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_root(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(None) == tmp_path / "env"
    monkeypatch.delenv("PLAIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(None) == tmp_path / "xdg" / "plait"


def test_task_setup_twice_tokenizes_once_and_a_changed_file_retokenizes(tmp_path: Path) -> None:
    data = tmp_path / "train.tsv"
    data.write_text("text\tlabel\n" + "".join(f"film {i} was good\tpositive\n" for i in range(20)))
    cfg = TASKS.config("sentiment", train_path=str(data), cache_dir=str(tmp_path / "cache"))
    TASKS.build(cfg).setup(factory)
    hits, misses = counts()
    second = TASKS.build(cfg)
    second.setup(factory)
    assert counts() == (hits + 2, misses)  # train and val came from disk
    assert len(list(second.batches("train", batch_size=4, epoch_seed=0))) == 5

    data.write_text(data.read_text().replace("film 3 was good", "film 3 was bad"))
    TASKS.build(cfg).setup(factory)
    assert counts()[1] > misses
    assert len(list((tmp_path / "cache" / "tokens").rglob("meta.json"))) >= 3


def test_cache_can_be_turned_off(tmp_path: Path) -> None:
    cfg = TASKS.config("sentiment", demo_size=50, cache=False, cache_dir=str(tmp_path / "off"))
    TASKS.build(cfg).setup(factory)
    assert not (tmp_path / "off").exists()


def test_an_entry_in_the_old_npy_layout_is_replaced_by_a_store(tmp_path: Path) -> None:
    texts = ["abc", "cab"]
    tok = char_tokenizer(texts)
    first = TokenCache(tok, tmp_path).encode(texts, "t")
    assert isinstance(first, TokenStore)
    entry = first.path
    for name in list(entry.iterdir()):
        name.unlink()
    np.save(entry / "flat.npy", np.zeros(6, np.int32))  # what TokenCache wrote before the token store
    np.save(entry / "offsets.npy", np.array([0, 3, 6]))
    hits, misses = counts()
    again = TokenCache(tok, tmp_path).encode(texts, "t")
    assert counts() == (hits, misses + 1)
    assert [list(again[i]) for i in range(2)] == tok.encode_batch(texts)
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "offsets.bin", "tokens.bin"]
