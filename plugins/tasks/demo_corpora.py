"""Generated corpora so the language-modelling and translation tasks run with no data (demos and tests).

Both reuse the review sentences of `synthetic_sentiment`. The "translation" target is a made-up language:
every English word has a fixed pseudo-word (derived from a hash, so it never changes) and the words of
each clause come in reverse order, so a model must learn a lexicon and a reordering.
"""

from __future__ import annotations

import hashlib

from plugins.tasks import synthetic_sentiment

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def lm_text(n_sentences: int, seed: int) -> str:
    """`n_sentences` generated review sentences, one per line."""
    return "\n".join(text for text, _ in synthetic_sentiment.generate(n_sentences, seed)) + "\n"


def pseudo_word(word: str) -> str:
    """The made-up translation of one word: 1-3 syllables picked by a hash of the word."""
    if not word.isalpha():
        return word
    digest = hashlib.sha256(word.encode()).digest()
    n = 1 + digest[0] % 3
    return "".join(SYLLABLES[digest[1 + i] % len(SYLLABLES)] for i in range(n))


def translate(sentence: str) -> str:
    """Word-by-word pseudo-words, the words of each comma-separated clause reversed."""
    clauses = [c.split() for c in sentence.split(",")]
    return " , ".join(" ".join(pseudo_word(w) for w in reversed(c)) for c in clauses if c)


def parallel(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (english, made-up language) sentence pairs."""
    return [(text, translate(text)) for text, _ in synthetic_sentiment.generate(n, seed)]
