"""Word tokenizer: whitespace- and punctuation-split words, the most frequent kept, the rest <unk>."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import HFTokenizer, VocabConfig, normalizer, special_token_list


@dataclass
class WordTokenizerConfig(VocabConfig):
    """Options of the word tokenizer."""

    max_vocab: int = 20000  # keep the most frequent words (special tokens not counted)
    min_frequency: int = 1  # a word must occur this often in training to get an id
    lowercase: bool = False  # lower-case text before splitting


class WordTokenizer(HFTokenizer[WordTokenizerConfig]):
    """Splits on whitespace and isolates each punctuation mark; decoding joins tokens with single spaces."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk"]))
        tok.normalizer = normalizer(self.cfg.lowercase)
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated")]
        )
        trainer = trainers.WordLevelTrainer(
            vocab_size=self.cfg.max_vocab + len(special_token_list()),
            min_frequency=self.cfg.min_frequency,
            special_tokens=special_token_list(),
            show_progress=False,
        )
        return tok, trainer


def build_word(cfg: WordTokenizerConfig) -> WordTokenizer:
    """Word-level tokenizer (whitespace and punctuation split) with a frequency-capped vocabulary."""
    return WordTokenizer(cfg)
