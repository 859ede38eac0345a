"""Data-layer tests: one trained BPE tokenizer per module."""

from __future__ import annotations

import pytest
from data_fixtures import trained_bpe

from framework.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    """A BPE tokenizer trained on a small corpus."""
    return trained_bpe()
