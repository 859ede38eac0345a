"""A small deterministic training corpus and tokenizer builders shared by the tokenizer tests."""

from __future__ import annotations

import random
from pathlib import Path

from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins
from plugins.tokenizers.hf_base import HFTokenizer

SUBJECTS = ["Ein Mann", "Eine Frau", "Zwei Kinder", "Der Hund", "A young girl", "The old man", "Drei Männer"]
VERBS = ["spielt", "läuft", "sitzt", "is walking", "klettert", "rides", "isst"]
PLACES = ["im Park", "auf der Straße", "near the river", "in einem Café", "am Strand", "with a red ball"]
ENDINGS = [".", "!", "?", ", oder?", " - schön.", " (2024)."]


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    """`n` short German/English sentences with umlauts, digits and punctuation, single-spaced."""
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}{rng.choice(ENDINGS)}" for _ in range(n)]


def gpt2_style_tokenizer_json(path: Path) -> Path:
    """Write a tiny GPT-2-style byte-level BPE `tokenizer.json` (only special token: <|endoftext|>, no pad)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path


def make_tokenizer(name: str, tmp_path: Path, texts: list[str] | None = None) -> HFTokenizer:
    """Build `name` with defaults (hf_pretrained: from a tiny tokenizer.json in `tmp_path`) and train it."""
    load_plugins()
    overrides = {}
    if name == "hf_pretrained":
        overrides["path"] = str(gpt2_style_tokenizer_json(tmp_path / "pretrained" / "tokenizer.json"))
    tokenizer = TOKENIZERS.build(TOKENIZERS.config(name, **overrides))
    tokenizer.train(texts if texts is not None else corpus())
    return tokenizer
