"""Long texts cut into pieces: joined they are the text, and the shipped tokenizers encode them piece by piece to
the ids of the whole text (where a cut at line ends would not, for bpe and byte_level_bpe)."""

from __future__ import annotations

import random

import pytest

from framework import text_pieces
from framework.data.pieces import safe_cut
from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins

WORDS = ["the", "naïve", "café", "model", "42", "reads", ",", ".", "!", "it's", "don't", "(text)", "über", "e\u0301"]


def prose(n_lines: int, seed: int = 0) -> str:
    """Lines of words with the whitespace real text has: indents, double spaces, blank lines, trailing spaces."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14)))
        lines.append(rng.choice(["", "  ", "\t"]) + words.replace(" . ", ".  ") + rng.choice(["", " ", "\r"]))
    return "\n".join(lines) + "\n"


def test_pieces_join_to_the_text_and_respect_the_size() -> None:
    text = prose(300)
    chunks = [text[i : i + 97] for i in range(0, len(text), 97)]  # chunks of any size
    pieces = list(text_pieces(chunks, size=64))
    assert "".join(pieces) == text
    assert all(0 < len(p) <= 64 for p in pieces)
    assert list(text_pieces([])) == [] and list(text_pieces(["", ""])) == []
    with pytest.raises(ValueError):
        list(text_pieces(["abc"], size=1))


def test_a_cut_falls_before_a_space_between_words_else_after_a_line_feed_else_anywhere() -> None:
    assert safe_cut("aaaa bbbb cccc", 0, 12) == 9  # before " cccc"
    assert safe_cut("aaaa  bbbb cc", 0, 8) == 8  # "  " is no cut: nothing in the second half, a hard cut
    assert safe_cut("aaaaaa\nbbbbbbbb", 0, 10) == 7  # after the line feed
    assert "".join(text_pieces(["x" * 1000], size=100)) == "x" * 1000  # no space at all: hard cuts


@pytest.mark.parametrize(
    ("name", "options"), [("char", {}), ("bpe", {"vocab_size": 300}), ("byte_level_bpe", {"vocab_size": 400})]
)
def test_pieces_encode_to_the_ids_of_the_whole_text(name: str, options: dict[str, int]) -> None:
    load_plugins()
    text = prose(400, seed=1)
    tokenizer = TOKENIZERS.build(TOKENIZERS.config(name, **options))
    tokenizer.train([text])
    whole = tokenizer.encode(text)
    for size in (64, 256, 1000):  # each piece's second half has a space between words: every cut is safe
        pieces = list(text_pieces([text], size=size))
        assert len(pieces) > len(text) // size and all(p.startswith(" ") for p in pieces[1:])
        assert [t for ids in tokenizer.encode_batch(pieces) for t in ids] == whole, size
    lines = text.splitlines(keepends=True)  # what a cut at line ends would give instead
    by_lines = [t for ids in tokenizer.encode_batch(lines) for t in ids]
    # Metaspace keeps a line feed inside a word; GPT-2's split joins a line feed to the next line's indent
    assert (by_lines == whole) == (name == "char")
