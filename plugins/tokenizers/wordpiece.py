"""BERT-style WordPiece: BERT's normaliser and pre-tokeniser, `##` marks a word's continuation pieces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import HFTokenizer, VocabConfig, special_token_list

CONTINUATION = "##"


@dataclass
class WordPieceTokenizerConfig(VocabConfig):
    """Options of the WordPiece tokenizer."""

    vocab_size: int = 8000  # target vocabulary size, special tokens included
    min_frequency: int = 2  # a pair must occur this often to be merged
    lowercase: bool = False  # lower-case and strip accents (BERT "uncased")


class WordPieceTokenizer(HFTokenizer[WordPieceTokenizerConfig]):
    """WordPiece (Schuster & Nakajima 2012, as in BERT); decoding re-attaches pieces and punctuation."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tok = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk"], continuing_subword_prefix=CONTINUATION))
        tok.normalizer = normalizers.BertNormalizer(lowercase=self.cfg.lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix=CONTINUATION)
        trainer = trainers.WordPieceTrainer(
            vocab_size=self.cfg.vocab_size,
            min_frequency=self.cfg.min_frequency,
            special_tokens=special_token_list(),
            continuing_subword_prefix=CONTINUATION,
            show_progress=False,
        )
        return tok, trainer


def build_wordpiece(cfg: WordPieceTokenizerConfig) -> WordPieceTokenizer:
    """BERT-style WordPiece subword tokenizer."""
    return WordPieceTokenizer(cfg)
