"""Byte-pair-encoding tokenizer with SentencePiece-style word boundaries (Metaspace), so decoding restores spaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import SPECIAL_TOKENS
from plugins.tokenizers.hf_base import HFTokenizer, VocabConfig, metaspace_words, normalizer, special_token_list


@dataclass
class BPETokenizerConfig(VocabConfig):
    """Options of the BPE tokenizer."""

    vocab_size: int = 4000  # target vocabulary size, special tokens included
    min_frequency: int = 2  # a pair must occur this often to be merged
    lowercase: bool = False  # lower-case text before tokenizing


class BPETokenizer(HFTokenizer[BPETokenizerConfig]):
    """BPE over Metaspace-split words (Sennrich et al. 2016), trained on the task's text."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer, models, trainers

        tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk"]))
        tok.normalizer = normalizer(self.cfg.lowercase)
        tok.pre_tokenizer, tok.decoder = metaspace_words()
        trainer = trainers.BpeTrainer(
            vocab_size=self.cfg.vocab_size,
            min_frequency=self.cfg.min_frequency,
            special_tokens=special_token_list(),
            show_progress=False,
        )
        return tok, trainer


def build_bpe(cfg: BPETokenizerConfig) -> BPETokenizer:
    """Subword BPE tokenizer trained on the task's training text."""
    return BPETokenizer(cfg)
