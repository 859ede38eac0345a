"""A deterministic 3-class sentiment corpus, generated here, for the default demo and the tests.

Sentences are short reviews whose label depends on word order, not just on which words occur:
negation flips a sentiment word ("was not good" is negative), the clause after "but" / the main
clause after "although" decides a contrast, and two opposite clauses joined by "and" are neutral.
A bag of words cannot solve it; attention can. A small share of labels is flipped to mimic noise.
"""

from __future__ import annotations

import random

LABELS = ("negative", "neutral", "positive")

SUBJECTS = [
    "the movie", "this film", "the plot", "the acting", "the soundtrack", "the script", "the ending",
    "the story", "the cast", "the dialogue", "the camera work", "the pacing", "the lead actor",
    "the sequel", "the villain", "the humour", "the finale", "the score", "the premise", "the editing",
]  # fmt: skip
POSITIVE = [
    "great", "wonderful", "brilliant", "moving", "delightful", "charming", "superb", "gripping",
    "funny", "beautiful", "clever", "fresh", "touching", "stunning", "smart", "excellent", "warm",
]  # fmt: skip
NEGATIVE = [
    "boring", "dull", "awful", "terrible", "clumsy", "tedious", "bland", "predictable", "messy",
    "painful", "lazy", "weak", "forgettable", "silly", "flat", "annoying", "poor",
]  # fmt: skip
INTENSIFIERS = ["", "", "really ", "very ", "quite ", "truly ", "rather ", "so "]
FACTS = [
    "runs about two hours", "was shot in canada", "opens on friday", "is based on a novel",
    "features a large cast", "was released last year", "is in black and white", "has a sequel planned",
    "was filmed in the summer", "is set in a small town", "lasts ninety minutes", "comes out next month",
]  # fmt: skip
VERBS = ["was", "is", "felt", "seemed"]


def _clause(rng: random.Random, polarity: int, negated: bool = False) -> str:
    words = POSITIVE if (polarity > 0) != negated else NEGATIVE
    verb = rng.choice(VERBS)
    neg = "not " if negated else ""
    return f"{rng.choice(SUBJECTS)} {verb} {neg}{rng.choice(INTENSIFIERS)}{rng.choice(words)}"


def _example(rng: random.Random) -> tuple[str, int]:
    """One (sentence, label id) with label ids 0 negative, 1 neutral, 2 positive."""
    kind = rng.random()
    pol = rng.choice((-1, 1))
    label = 0 if pol < 0 else 2
    if kind < 0.22:  # plain: "the plot was great"
        return _clause(rng, pol), label
    if kind < 0.40:  # negated: the sentiment word is the opposite of the label
        return _clause(rng, pol, negated=True), label
    if kind < 0.58:  # contrast: the clause after "but" decides
        return f"{_clause(rng, -pol)} but {_clause(rng, pol, negated=rng.random() < 0.3)}", label
    if kind < 0.70:  # concessive: the main clause decides
        return f"although {_clause(rng, -pol)} , {_clause(rng, pol)}", label
    if kind < 0.85:  # factual, no opinion
        return f"{rng.choice(SUBJECTS)} {rng.choice(FACTS)}", 1
    return f"{_clause(rng, pol)} and {_clause(rng, -pol)}", 1  # mixed: neutral


def generate(n: int, seed: int, noise: float = 0.03) -> list[tuple[str, str]]:
    """`n` (text, label name) pairs; the same `seed` always gives the same corpus."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        text, label = _example(rng)
        if rng.random() < noise:
            label = rng.randrange(len(LABELS))
        rows.append((text, LABELS[label]))
    return rows


def splits(n_train: int, seed: int = 1234) -> dict[str, list[tuple[str, str]]]:
    """Train / val / test splits (val and test are each a tenth of train, at least 200)."""
    n_eval = max(200, n_train // 10)
    return {
        "train": generate(n_train, seed),
        "val": generate(n_eval, seed + 1),
        "test": generate(n_eval, seed + 2),
    }
