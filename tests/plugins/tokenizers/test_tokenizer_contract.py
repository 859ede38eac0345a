"""Contract every registered tokenizer keeps: round trip, save/load, special ids, batch == single."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizer_corpus import corpus, make_tokenizer

from framework.plugins import load_plugins
from framework.registry import TOKENIZERS
from framework.tokenizer import SPECIAL_TOKENS

load_plugins()
NAMES = TOKENIZERS.names()

# What decode(encode(text)) promises, per tokenizer (a tokenizer missing here is held to "stable"):
#   exact       decode(encode(x)) == x for any text (byte_level_bpe: any UTF-8; char: characters seen in training)
#   normalised  == x for text that is already normalised (NFC/NFKC, single spaces) and made of seen characters
#   stable      decode may re-space punctuation or drop case, but re-encoding the decoded text gives the same ids
ROUND_TRIP = {
    "char": "exact",
    "byte_level_bpe": "exact",
    "hf_pretrained": "exact",  # the test fixture is a GPT-2-style byte-level BPE
    "bpe": "normalised",  # NFC + Metaspace
    "unigram": "normalised",  # NFKC + Metaspace
    "word": "stable",  # "Hallo, Welt!" decodes as "Hallo , Welt !"
    "wordpiece": "stable",  # BERT normaliser; decoder cleanup re-attaches most punctuation
}
PRETRAINED = {"hf_pretrained"}  # ids come from elsewhere; every other tokenizer trains its own vocabulary

HELD_OUT = corpus(20, seed=99)  # same vocabulary, unseen sentences
UNICODE = ["Grüße aus Köln 😀 – naïve café\n\tzwei  Leerzeichen", "中文 и кириллица", " leading space", ""]


@pytest.fixture(params=NAMES)
def tokenizer(request: pytest.FixtureRequest, tmp_path: Path):
    return make_tokenizer(request.param, tmp_path)


def test_round_trip(tokenizer) -> None:
    name = tokenizer_name(tokenizer)
    promise = ROUND_TRIP.get(name, "stable")
    texts = HELD_OUT + (UNICODE if promise == "exact" and name != "char" else [])
    ids = tokenizer.encode_batch(texts)
    decoded = tokenizer.decode_batch(ids)
    if promise == "stable":
        assert tokenizer.encode_batch(decoded) == ids
    else:
        assert decoded == texts
    assert all(len(x) > 0 for x, t in zip(ids, texts, strict=True) if t)


def test_save_load_gives_same_ids(tokenizer, tmp_path: Path) -> None:
    tokenizer.save(tmp_path / "saved")
    fresh = TOKENIZERS.build(TOKENIZERS.config(tokenizer_name(tokenizer)))  # default config: no pretrained path
    fresh.load(tmp_path / "saved")
    assert fresh.encode_batch(HELD_OUT) == tokenizer.encode_batch(HELD_OUT)
    assert fresh.vocab_size == tokenizer.vocab_size
    assert fresh.vocabulary() == tokenizer.vocabulary()
    assert fresh.pad_id == tokenizer.pad_id
    assert fresh.special_tokens() == tokenizer.special_tokens()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in PRETRAINED])
def test_trained_tokenizers_share_special_ids(name: str, tmp_path: Path) -> None:
    tokenizer = make_tokenizer(name, tmp_path)
    assert [tokenizer.special_id(role) for role in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert tokenizer.pad_id == 0
    assert tokenizer.vocabulary()[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS.values())
    # special tokens are never produced from text and are skipped when decoding
    text = HELD_OUT[0]
    assert not set(tokenizer.encode(text)) & set(range(len(SPECIAL_TOKENS)))
    wrapped = [tokenizer.special_id("bos"), *tokenizer.encode(text), tokenizer.special_id("eos")]
    assert tokenizer.decode(wrapped) == tokenizer.decode(tokenizer.encode(text))


def test_batch_encode_equals_single(tokenizer) -> None:
    texts = HELD_OUT[:8]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]
    batch = tokenizer.encode_batch(texts)
    assert tokenizer.decode_batch(batch) == [tokenizer.decode(ids) for ids in batch]


def test_vocabulary_matches_ids(tokenizer) -> None:
    vocab = tokenizer.vocabulary()
    assert len(vocab) == tokenizer.vocab_size
    assert all(tokenizer.token_to_id(tok) == i for i, tok in enumerate(vocab))
    assert max(max(ids) for ids in tokenizer.encode_batch(HELD_OUT)) < tokenizer.vocab_size
    assert tokenizer.pad_id == tokenizer.token_to_id(tokenizer.special_tokens()["pad"])


def tokenizer_name(tokenizer) -> str:
    """The registry key a built tokenizer came from."""
    return tokenizer.cfg._name_
