"""Character tokenizer: one id per character seen in training; lossless on text made of those characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import HFTokenizer, VocabConfig, special_token_list


@dataclass
class CharTokenizerConfig(VocabConfig):
    """Options of the character tokenizer."""

    max_vocab: int = 1000  # keep the most frequent characters; the rest map to <unk>
    lowercase: bool = False  # lower-case text before splitting


class CharTokenizer(HFTokenizer[CharTokenizerConfig]):
    """Splits text into single characters (newlines and spaces included)."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk"]))
        if self.cfg.lowercase:
            tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()
        trainer = trainers.WordLevelTrainer(
            vocab_size=self.cfg.max_vocab + len(special_token_list()),
            min_frequency=1,
            special_tokens=special_token_list(),
            show_progress=False,
        )
        return tok, trainer


def build_char(cfg: CharTokenizerConfig) -> CharTokenizer:
    """Character-level tokenizer (for char language models and tiny vocabularies)."""
    return CharTokenizer(cfg)
