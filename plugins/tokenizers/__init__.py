"""Built-in tokenizers, all on Hugging Face `tokenizers`."""

from plugins.tokenizers import (  # noqa: F401  (importing registers them)
    bpe,
    byte_level_bpe,
    char,
    hf_pretrained,
    unigram,
    word,
    wordpiece,
)
