"""Fixtures of the data-layer tests: writing (optionally compressed) files; one trained BPE tokenizer per module."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest
from data_fixtures import trained_bpe

from framework.tokenizer import Tokenizer

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": bytes,
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lambda raw: lzma.compress(raw, preset=0),  # fast: the tests write many files
}
Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """write(name, content, compression="") -> the path of `content` (text or bytes) stored under tmp_path."""

    def make(name: str, content: str | bytes, compression: str = "") -> Path:
        path = tmp_path / f"{name}{compression}"
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = content.encode() if isinstance(content, str) else content
        path.write_bytes(COMPRESS[compression](raw))
        return path

    return make


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    """A BPE tokenizer trained on a small corpus."""
    return trained_bpe()
