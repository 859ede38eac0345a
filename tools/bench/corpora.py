"""Seeded made-up corpora for the data benchmarks (nothing downloaded or shipped): English-like sentences of
Zipf-distributed words built from syllables (a few accented), as plain text, a labelled TSV or line-aligned pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

VOCAB = 30_000  # distinct words; their frequencies follow Zipf's law, so new words keep appearing as text grows
CHUNK_SENTENCES = 20_000
LABELS = ("negative", "neutral", "positive")


class Words:
    """A seeded word list and sentences drawn from it."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        syllables = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "é", "ü")]
        picks = self.rng.integers(0, len(syllables), size=(VOCAB, 4))
        sizes = self.rng.integers(1, 5, size=VOCAB)
        self.words = np.array(["".join(syllables[i] for i in row[:n]) for row, n in zip(picks, sizes, strict=True)])
        self.mapping = self.rng.permutation(VOCAB)  # a "translation" of each word

    def sentences(self, n: int) -> Iterator[tuple[np.ndarray, list[str]]]:
        """(word ids, words) of `n` sentences of 4 to 30 words, made a chunk at a time."""
        for start in range(0, n, CHUNK_SENTENCES):
            lengths = self.rng.integers(4, 31, size=min(CHUNK_SENTENCES, n - start))
            ids = np.minimum(self.rng.zipf(1.2, size=int(lengths.sum())), VOCAB) - 1
            words = self.words[ids].tolist()
            ends = np.cumsum(lengths).tolist()
            for a, b in zip([0, *ends[:-1]], ends, strict=True):
                yield ids[a:b], words[a:b]


def write_text(path: Path, mb: float, seed: int = 0) -> int:
    """Plain text of about `mb` MB, one sentence per line, a blank line between paragraphs; returns its lines."""
    words, lines = Words(seed), 0
    with path.open("w", encoding="utf-8") as f:
        while f.tell() < mb * 1e6:
            block = [" ".join(w).capitalize() + "." for _, w in words.sentences(CHUNK_SENTENCES)]
            f.write("\n".join(block) + "\n\n")
            lines += len(block) + 1
    return lines


def write_tsv(path: Path, rows: int, seed: int = 1) -> None:
    """A `text<TAB>label` TSV with a header and `rows` labelled sentences (the label follows the words used)."""
    words = Words(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        batch: list[str] = []
        for ids, w in words.sentences(rows):
            batch.append(f"{' '.join(w)}\t{LABELS[int(ids.sum()) % 3]}")
            if len(batch) == CHUNK_SENTENCES:
                f.write("\n".join(batch) + "\n")
                batch = []
        f.write("".join(line + "\n" for line in batch))


def write_parallel(directory: Path, pairs: int, seed: int = 2) -> str:
    """`train.src` / `train.tgt`: `pairs` line-aligned sentences, the target a word-for-word made-up translation in
    reversed order; returns the split's path with `{lang}` (src and tgt)."""
    words = Words(seed)
    with (directory / "train.src").open("w", encoding="utf-8") as src, (directory / "train.tgt").open("w") as tgt:
        sources: list[str] = []
        targets: list[str] = []
        for ids, w in words.sentences(pairs):
            sources.append(" ".join(w))
            targets.append(" ".join(words.words[words.mapping[ids[::-1]]].tolist()))
            if len(sources) == CHUNK_SENTENCES:
                src.write("\n".join(sources) + "\n")
                tgt.write("\n".join(targets) + "\n")
                sources, targets = [], []
        src.write("".join(s + "\n" for s in sources))
        tgt.write("".join(t + "\n" for t in targets))
    return str(directory / "train.{lang}")
