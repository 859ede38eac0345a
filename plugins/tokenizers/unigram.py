"""SentencePiece-style unigram language-model tokenizer (Kudo 2018) over Metaspace-marked words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import HFTokenizer, VocabConfig, metaspace_words, normalizer, special_token_list


@dataclass
class UnigramTokenizerConfig(VocabConfig):
    """Options of the unigram tokenizer."""

    vocab_size: int = 8000  # target vocabulary size, special tokens included
    max_piece_length: int = 16  # longest piece, in characters
    shrinking_factor: float = 0.75  # share of pieces kept per pruning round (lower: faster, coarser)
    lowercase: bool = False  # lower-case text (after NFKC) before tokenizing


class UnigramTokenizer(HFTokenizer[UnigramTokenizerConfig]):
    """Unigram LM pieces, NFKC-normalised like SentencePiece; `▁` marks word starts so spaces decode back."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer, models, trainers

        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizer(self.cfg.lowercase, form="NFKC")
        tok.pre_tokenizer, tok.decoder = metaspace_words()
        trainer = trainers.UnigramTrainer(
            vocab_size=self.cfg.vocab_size,
            special_tokens=special_token_list(),
            unk_token=SPECIAL_TOKENS["unk"],
            max_piece_length=self.cfg.max_piece_length,
            shrinking_factor=self.cfg.shrinking_factor,
            show_progress=False,
        )
        return tok, trainer


def build_unigram(cfg: UnigramTokenizerConfig) -> UnigramTokenizer:
    """SentencePiece unigram subword tokenizer."""
    return UnigramTokenizer(cfg)
