"""Built-in tokenizers, all on Hugging Face `tokenizers`. Declared here; a module is imported only when a run
builds its tokenizer."""

from framework import TOKENIZERS

TOKENIZERS.declare(
    "bpe", config="plugins.tokenizers.bpe:BPETokenizerConfig", factory="plugins.tokenizers.bpe:build_bpe"
)
TOKENIZERS.declare(
    "byte_level_bpe",
    config="plugins.tokenizers.byte_level_bpe:ByteLevelBPETokenizerConfig",
    factory="plugins.tokenizers.byte_level_bpe:build_byte_level_bpe",
)
TOKENIZERS.declare(
    "char", config="plugins.tokenizers.char:CharTokenizerConfig", factory="plugins.tokenizers.char:build_char"
)
TOKENIZERS.declare(
    "hf_pretrained",
    config="plugins.tokenizers.hf_pretrained:HFPretrainedTokenizerConfig",
    factory="plugins.tokenizers.hf_pretrained:build_hf_pretrained",
)
TOKENIZERS.declare(
    "unigram",
    config="plugins.tokenizers.unigram:UnigramTokenizerConfig",
    factory="plugins.tokenizers.unigram:build_unigram",
)
TOKENIZERS.declare(
    "word", config="plugins.tokenizers.word:WordTokenizerConfig", factory="plugins.tokenizers.word:build_word"
)
TOKENIZERS.declare(
    "wordpiece",
    config="plugins.tokenizers.wordpiece:WordPieceTokenizerConfig",
    factory="plugins.tokenizers.wordpiece:build_wordpiece",
)
