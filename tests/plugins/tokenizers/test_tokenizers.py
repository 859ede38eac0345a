"""Behaviour specific to each tokenizer: options, normalisation, pretrained special-token mapping, errors."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from tokenizer_corpus import corpus, gpt2_style_tokenizer_json, make_tokenizer

from framework.errors import PlaitError
from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins
from framework.tokenizer import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import MissingSpecialTokenError

load_plugins()


def build(name: str, **overrides):
    return TOKENIZERS.build(TOKENIZERS.config(name, **overrides))


def tokens(tokenizer, text: str) -> list[str]:
    vocab = tokenizer.vocabulary()
    return [vocab[i] for i in tokenizer.encode(text)]


# -- word -----------------------------------------------------------------------------------------


def test_word_splits_whitespace_and_each_punctuation_mark() -> None:
    tok = build("word")
    tok.train(["Hallo, Welt! Wie geht's?", "Hallo Welt..."])
    assert tokens(tok, "Hallo, Welt!") == ["Hallo", ",", "Welt", "!"]
    assert tokens(tok, "Welt...") == ["Welt", ".", ".", "."]
    assert tok.decode(tok.encode("Hallo, Welt!")) == "Hallo , Welt !"


def test_word_min_frequency_max_vocab_and_lowercase() -> None:
    texts = ["a a a b b c"] * 3
    rare = build("word", min_frequency=4)
    rare.train(texts)
    assert tokens(rare, "a b c") == ["a", "b", "<unk>"]  # c occurs 3 times < 4
    capped = build("word", max_vocab=1)
    capped.train(texts)
    assert capped.vocab_size == len(SPECIAL_TOKENS) + 1
    assert tokens(capped, "a b") == ["a", "<unk>"]
    lower = build("word", lowercase=True)
    lower.train(["Haus HAUS haus"])
    assert lower.vocab_size == len(SPECIAL_TOKENS) + 1
    assert lower.encode("HaUs") == lower.encode("haus")


# -- byte-level BPE, WordPiece, unigram, BPE ---------------------------------------------------------


def test_byte_level_bpe_has_no_unknowns_on_unseen_scripts(tmp_path: Path) -> None:
    tok = make_tokenizer("byte_level_bpe", tmp_path)
    text = "Ελληνικά 日本語 🚲🚲 \u00a0nbsp\r\n"
    ids = tok.encode(text)
    assert tok.special_id("unk") not in ids
    assert tok.decode(ids) == text


def test_wordpiece_marks_continuations_and_lowercase_strips_accents() -> None:
    tok = build("wordpiece", vocab_size=120, min_frequency=1)
    tok.train(corpus())
    assert any(t.startswith("##") for t in tok.vocabulary())
    assert any(t.startswith("##") for t in tokens(tok, "Männerstrand"))
    uncased = build("wordpiece", lowercase=True)
    uncased.train(corpus())
    assert uncased.encode("MÄNNER") == uncased.encode("manner")


def test_unigram_normalises_nfkc_and_respects_vocab_size() -> None:
    tok = build("unigram", vocab_size=60)
    tok.train(corpus())
    assert tok.vocab_size <= 60
    assert tok.encode("120\u00a0cm") == tok.encode("120 cm")  # NFKC: no-break space -> space
    assert tok.decode(tok.encode("Ein Mann spielt im Park.")) == "Ein Mann spielt im Park."


def test_bpe_lowercase_option() -> None:
    tok = build("bpe", lowercase=True)
    tok.train(corpus())
    assert tok.encode("EIN MANN") == tok.encode("ein mann")


@pytest.mark.parametrize("name", ["bpe", "unigram"])
def test_metaspace_words_stop_at_line_breaks_and_tabs_and_decode_back(name: str) -> None:
    # Before: "line\nNext" was one pre-tokenized word, so every line break of a corpus added a word to the
    # trainer's table (memory growing with the corpus) and learnt pieces spanned lines.
    tok = build(name, vocab_size=120)
    lines = [f"word{i % 7} line{i % 5}\tcell\nNext{i % 3} one\n\n" for i in range(300)]
    tok.train(lines)
    text = "word1 line2\tcell\nNext2 one\n\nword3 line4\n"
    pieces = tokens(tok, text)
    assert all(p.strip() == "" or not any(c in p for c in "\n\t") for p in pieces), pieces
    assert tok.decode(tok.encode(text)) == text


def test_untrained_tokenizer_says_so() -> None:
    with pytest.raises(PlaitError, match="before it was trained or loaded"):
        build("bpe").encode("x")


# -- hf_pretrained ---------------------------------------------------------------------------------


def test_hf_pretrained_adds_pad_and_maps_gpt2_roles(tmp_path: Path) -> None:
    path = gpt2_style_tokenizer_json(tmp_path / "tokenizer.json")
    tok = build("hf_pretrained", path=str(path))
    tok.train(["ignored"])
    eot = tok.token_to_id("<|endoftext|>")
    assert tok.special_id("bos") == tok.special_id("eos") == eot
    assert tok.pad_id == tok.vocab_size - 1  # added at the end
    assert tok.vocabulary()[tok.pad_id] == "<pad>"
    with pytest.raises(MissingSpecialTokenError, match="no mask token") as err:
        tok.special_id("mask")
    assert isinstance(err.value, KeyError)


def test_hf_pretrained_directory_uses_declared_roles_and_overrides(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "hallo", "welt"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / "tokenizer.json"))
    config = {"bos_token": {"content": "<S>", "special": True}, "eos_token": "[SEP]"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))

    tok = build("hf_pretrained", path=str(tmp_path))
    tok.train([])
    expected = {"pad": "[PAD]", "unk": "[UNK]", "bos": "<S>", "eos": "[SEP]", "cls": "[CLS]", "sep": "[SEP]"}
    assert tok.special_tokens() == {**expected, "mask": "[MASK]"}
    assert tok.pad_id == 0 and tok.vocab_size == len(vocab)  # has a pad: nothing added
    assert tok.encode("hallo welt") == [6, 7]

    override = build("hf_pretrained", path=str(tmp_path), special_tokens={"bos": "[CLS]"})
    override.train([])
    assert override.special_id("bos") == 2
    bad = build("hf_pretrained", path=str(tmp_path), special_tokens={"bos": "<nope>"})
    with pytest.raises(PlaitError, match="special_tokens.bos"):
        bad.train([])
    with pytest.raises(PlaitError, match="unknown role"):
        build("hf_pretrained", path=str(tmp_path), special_tokens={"begin": "<S>"}).train([])


def test_hf_pretrained_directory_without_tokenizer_json_is_converted(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhallo\nwelt\n##en\n")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}))
    tok = build("hf_pretrained", path=str(tmp_path))
    tok.train([])
    assert tok.encode("hallo welten") == [5, 6, 7]
    assert tok.special_tokens() == {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def test_hf_pretrained_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "tokenizer.json"
    with pytest.raises(PlaitError, match="nowhere"):
        build("hf_pretrained", path=str(missing)).train([])
    with pytest.raises(PlaitError, match="needs tokenizer.path"):
        build("hf_pretrained").train([])


def test_to_transformers_keeps_ids_and_roles(tmp_path: Path) -> None:
    tok = make_tokenizer("bpe", tmp_path)
    hf = tok.to_transformers()
    text = corpus(1, seed=7)[0]
    assert hf(text, add_special_tokens=False)["input_ids"] == tok.encode(text)
    assert (hf.pad_token_id, hf.unk_token_id, hf.mask_token_id) == (0, 1, 6)
    hf.save_pretrained(str(tmp_path / "hf"))
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(str(tmp_path / "hf"), local_files_only=True)
    assert again(text, add_special_tokens=False)["input_ids"] == tok.encode(text)
    assert again.eos_token == SPECIAL_TOKENS["eos"]


# -- training from an iterator ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bpe", "char"])
def test_training_from_a_generator_with_a_length_equals_training_on_a_list(name: str) -> None:
    texts = corpus(50, seed=3)
    from_list, from_stream = build(name), build(name)
    from_list.train(texts)
    from_stream.train((t for t in texts), length=len(texts))  # consumed once, as a streaming reader yields
    assert from_stream.vocabulary() == from_list.vocabulary()


def test_train_max_bytes_is_a_positive_limit_or_null() -> None:
    assert TOKENIZERS.config("bpe").train_max_bytes is None  # default: all the text
    TOKENIZERS.config("bpe", train_max_bytes=1).validate()
    with pytest.raises(PlaitError, match=r"train_max_bytes=0 .* >= 1"):
        TOKENIZERS.config("bpe", train_max_bytes=0).validate()


@pytest.mark.parametrize("name", ["char", "bpe", "byte_level_bpe"])
def test_train_max_bytes_trains_on_the_first_bytes_only(name: str) -> None:
    def texts():
        yield "aaaa bbbb "
        yield "cccc é"  # the limit ends after "cc": the rest, and the texts after it, are never read
        raise AssertionError("read past the limit")

    tok = build(name, train_max_bytes=12)
    tok.train(texts(), length=2)
    learned = "".join(t for t in tok.vocabulary() if t not in SPECIAL_TOKENS.values())
    if name != "byte_level_bpe":  # it has every byte from the start
        assert "c" in learned and "é" not in learned


# -- speed on real data -----------------------------------------------------------------------------

MULTI30K = Path(os.environ.get("PLAIT_MULTI30K_DE", "/work/shared/data/multi30k/train.de"))


@pytest.mark.slow
@pytest.mark.skipif(not MULTI30K.is_file(), reason=f"{MULTI30K} not available")
@pytest.mark.parametrize("name", [n for n in TOKENIZERS.names() if n != "hf_pretrained"])
def test_training_on_multi30k_takes_seconds(name: str) -> None:
    texts = MULTI30K.read_text(encoding="utf-8").splitlines()
    tok = build(name)
    start = time.perf_counter()
    tok.train(texts)
    assert time.perf_counter() - start < 30  # about 0.4-4 s each on 2 shared CPU cores
    assert tok.pad_id == 0 and tok.vocab_size > len(SPECIAL_TOKENS)
