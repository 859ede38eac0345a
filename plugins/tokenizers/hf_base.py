"""Shared base for tokenizers backed by a Hugging Face `tokenizers.Tokenizer` (one `tokenizer.json`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from framework.registry import PlaitError
from framework.tokenizer import SPECIAL_TOKENS, Tokenizer

TOKENIZER_FILE = "tokenizer.json"


class HFTokenizer(Tokenizer):
    """A `Tokenizer` around `tokenizers.Tokenizer`; subclasses build the pipeline and its trainer."""

    def __init__(self) -> None:
        self._tok = None  # tokenizers.Tokenizer, set by train() or load()

    def _build(self):  # -> (tokenizers.Tokenizer, trainer)
        raise NotImplementedError

    @property
    def backend(self):
        """The underlying `tokenizers.Tokenizer`; errors clearly when used before training."""
        if self._tok is None:
            raise PlaitError(f"{type(self).__name__} is used before it was trained or loaded")
        return self._tok

    def train(self, texts: Iterable[str]) -> None:
        """Train the pipeline on `texts`; the special tokens take ids 0..6."""
        tok, trainer = self._build()
        tok.train_from_iterator(texts, trainer=trainer)
        self._tok = tok

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Batch-encode (parallel in Rust) without adding special tokens."""
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def decode_batch(self, ids: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        """Batch-decode."""
        return self.backend.decode_batch(ids, skip_special_tokens=skip_special_tokens)

    def save(self, directory: Path) -> None:
        """Write `tokenizer.json` into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / TOKENIZER_FILE))

    def load(self, directory: Path) -> None:
        """Read `tokenizer.json` from `directory`."""
        from tokenizers import Tokenizer as Backend

        path = directory / TOKENIZER_FILE
        if not path.is_file():
            raise PlaitError(f"tokenizer file not found: {path}")
        self._tok = Backend.from_file(str(path))

    @property
    def vocab_size(self) -> int:
        """Vocabulary size including special tokens."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def vocabulary(self) -> list[str]:
        """Tokens in id order."""
        by_id = sorted(self.backend.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        return [token for token, _ in by_id]

    def token_to_id(self, token: str) -> int | None:
        """Id of `token`, or None."""
        return self.backend.token_to_id(token)


def special_token_list() -> list[str]:
    """The special tokens in id order, for trainers."""
    return list(SPECIAL_TOKENS.values())
