"""Helpers of the data-layer tests: a small corpus, a trained BPE tokenizer, a Python snippet in a fresh process."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins
from framework.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[3]
WORDS = [
    "the",
    "a",
    "small",
    "model",
    "reads",
    "text",
    "fast",
    "slow",
    "über",
    "naïve",
    "café",
    "42",
    "tokens",
    "store",
    "memory",
    "map",
    ",",
    ".",
    "!",
]


def corpus(n: int, seed: int = 0) -> list[str]:
    """`n` short lines of words (a few accented), deterministic."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def trained_bpe() -> Tokenizer:
    """A BPE tokenizer trained on `corpus(500)`."""
    load_plugins()
    tokenizer = TOKENIZERS.build(TOKENIZERS.config("bpe", vocab_size=120, min_frequency=1))
    tokenizer.train(corpus(500))
    return tokenizer


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start `python -c code args…` from the repository root (stdout and stderr piped)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
