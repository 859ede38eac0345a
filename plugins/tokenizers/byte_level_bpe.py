"""GPT-2-style byte-level BPE: every UTF-8 byte has a token, so any text round-trips exactly and nothing is <unk>."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugins.tokenizers.hf_base import MIN_VOCAB_SIZE, HFTokenizer, VocabConfig, special_token_list


@dataclass
class ByteLevelBPETokenizerConfig(VocabConfig):
    """Options of the byte-level BPE tokenizer."""

    vocab_size: int = 8000  # target vocabulary size: 7 special tokens + 256 bytes + merges
    min_frequency: int = 2  # a pair must occur this often to be merged

    min_vocab_size = MIN_VOCAB_SIZE - 1 + 256  # every byte has a token (a class constant, not an option)


class ByteLevelBPETokenizer(HFTokenizer[ByteLevelBPETokenizerConfig]):
    """BPE over bytes after GPT-2's regex split (Radford et al. 2019); no normalisation, lossless."""

    def _build(self) -> tuple[Any, Any]:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=self.cfg.vocab_size,
            min_frequency=self.cfg.min_frequency,
            special_tokens=special_token_list(),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        return tok, trainer


def build_byte_level_bpe(cfg: ByteLevelBPETokenizerConfig) -> ByteLevelBPETokenizer:
    """GPT-2-style byte-level BPE, lossless on any UTF-8 text."""
    return ByteLevelBPETokenizer(cfg)
