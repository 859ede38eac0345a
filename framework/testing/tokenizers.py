"""Tokenizers: a small training corpus, and TokenizerContract, the checks every tokenizer passes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, ClassVar

import pytest

from framework.kinds import TOKENIZERS
from framework.testing.components import build_component
from framework.tokenizer import SPECIAL_TOKENS

_WORDS = ["ein", "mann", "eine", "frau", "kind", "spielt", "läuft", "im", "park", "the", "dog", "runs", "fast", "42"]


def tokenizer_corpus(n: int = 200, seed: int = 0) -> list[str]:
    """`n` short single-spaced sentences over a small German/English vocabulary."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8))) + rng.choice([".", "!", "?"]) for _ in range(n)
    ]


class TokenizerContract:
    """Checks for a tokenizer: round trip (as promised by `round_trip`), save/load gives the same ids and
    vocabulary, the shared special ids, batch == single, vocabulary consistent with ids."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    #: what decode(encode(text)) promises: "exact" (== text), "normalised" (== text for normalised text made of
    #: seen characters) or "stable" (re-encoding the decoded text gives the same ids)
    round_trip: ClassVar[str] = "stable"
    pretrained: ClassVar[bool] = False  # ids come from elsewhere: the special-id layout is not checked

    def corpus(self) -> list[str]:
        """Training text."""
        return tokenizer_corpus()

    def held_out(self) -> list[str]:
        """Unseen sentences over the same vocabulary."""
        return tokenizer_corpus(20, seed=99)

    def make(self, tmp_path: Path) -> Any:
        """The tokenizer under test, trained on `corpus()`."""
        tokenizer = build_component(TOKENIZERS, self.key, self.config)
        tokenizer.train(self.corpus())
        return tokenizer

    def test_round_trip(self, tmp_path: Path) -> None:
        tokenizer, texts = self.make(tmp_path), self.held_out()
        ids = tokenizer.encode_batch(texts)
        decoded = tokenizer.decode_batch(ids)
        if self.round_trip == "stable":
            assert tokenizer.encode_batch(decoded) == ids
        else:
            assert decoded == texts
        assert all(len(x) > 0 for x, t in zip(ids, texts, strict=True) if t)

    def test_save_load_gives_same_ids(self, tmp_path: Path) -> None:
        tokenizer = self.make(tmp_path)
        tokenizer.save(tmp_path / "saved")
        fresh = build_component(TOKENIZERS, self.key)  # default config: loading restores everything
        fresh.load(tmp_path / "saved")
        assert fresh.encode_batch(self.held_out()) == tokenizer.encode_batch(self.held_out())
        assert fresh.vocab_size == tokenizer.vocab_size
        assert fresh.vocabulary() == tokenizer.vocabulary()
        assert fresh.pad_id == tokenizer.pad_id

    def test_shared_special_ids(self, tmp_path: Path) -> None:
        if self.pretrained:
            pytest.skip("a pretrained vocabulary keeps its own ids")
        tokenizer = self.make(tmp_path)
        assert [tokenizer.special_id(role) for role in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
        assert tokenizer.vocabulary()[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS.values())
        text = self.held_out()[0]
        assert not set(tokenizer.encode(text)) & set(range(len(SPECIAL_TOKENS))), "specials never come from text"
        wrapped = [tokenizer.special_id("bos"), *tokenizer.encode(text), tokenizer.special_id("eos")]
        assert tokenizer.decode(wrapped) == tokenizer.decode(tokenizer.encode(text)), "specials are skipped"

    def test_batch_encode_equals_single(self, tmp_path: Path) -> None:
        tokenizer, texts = self.make(tmp_path), self.held_out()[:8]
        batch = tokenizer.encode_batch(texts)
        assert batch == [tokenizer.encode(t) for t in texts]
        assert tokenizer.decode_batch(batch) == [tokenizer.decode(ids) for ids in batch]

    def test_vocabulary_matches_ids(self, tmp_path: Path) -> None:
        tokenizer = self.make(tmp_path)
        vocab = tokenizer.vocabulary()
        assert len(vocab) == tokenizer.vocab_size
        assert all(tokenizer.token_to_id(tok) == i for i, tok in enumerate(vocab))
        assert max(max(ids, default=0) for ids in tokenizer.encode_batch(self.held_out())) < tokenizer.vocab_size
