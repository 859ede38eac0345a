"""Built-in tokenizers, all on Hugging Face `tokenizers`."""

from plugins.tokenizers import bpe, char  # noqa: F401  (importing registers them)
