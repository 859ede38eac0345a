"""Shared base for tokenizers backed by a Hugging Face `tokenizers.Tokenizer` (one `tokenizer.json`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Optional, TypeVar

from framework import SPECIAL_TOKENS, ComponentConfig, PlaitError, Tokenizer, at_least, between, limit_bytes

TOKENIZER_FILE = "tokenizer.json"
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 1  # the special tokens and at least one learned token
C = TypeVar("C", bound=ComponentConfig)  # a tokenizer's options


@dataclass
class VocabConfig(ComponentConfig):
    """Base of the trained tokenizers' schemas: one range check for the fields they share."""

    min_vocab_size = MIN_VOCAB_SIZE  # what `vocab_size` must reach (a class constant, not an option)
    train_max_bytes: Optional[int] = None  # train on the first this many UTF-8 bytes of the text; null: all of it

    def validate(self) -> None:
        """vocab_size reaches min_vocab_size; max_vocab, max_piece_length, train_max_bytes >= 1; min_frequency >= 0."""
        fields = vars(self)
        at_least(self, self.min_vocab_size, *(n for n in ("vocab_size",) if n in fields))
        at_least(self, 1, "train_max_bytes", *(n for n in ("max_vocab", "max_piece_length") if n in fields))
        at_least(self, 0, *(n for n in ("min_frequency",) if n in fields))
        if "shrinking_factor" in fields:
            between(self, "shrinking_factor", 0, 1, low_open=True, high_open=True)


class MissingSpecialTokenError(PlaitError, KeyError):
    """Raised by `special_id(role)` when the tokenizer has no token for that role."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class HFTokenizer(Tokenizer, Generic[C]):
    """A `Tokenizer` around `tokenizers.Tokenizer`, holding its options `cfg`; subclasses state only what differs:
    the pipeline and its trainer (`_build`)."""

    def __init__(self, cfg: C) -> None:
        self.cfg = cfg
        self._tok: Any = None  # tokenizers.Tokenizer, set by train() or load()

    def _build(self) -> tuple[Any, Any]:  # -> (tokenizers.Tokenizer, trainer)
        raise NotImplementedError

    @property
    def backend(self) -> Any:
        """The underlying `tokenizers.Tokenizer`; errors clearly when used before training."""
        if self._tok is None:
            raise PlaitError(f"{type(self).__name__} is used before it was trained or loaded")
        return self._tok

    def train(self, texts: Iterable[str], length: int | None = None) -> None:
        """Train the pipeline on `texts`, streamed (`length`: their count when known, for real progress), or on
        their first `train_max_bytes` UTF-8 bytes when that is set; the special tokens take ids 0..6."""
        tok, trainer = self._build()
        max_bytes = getattr(self.cfg, "train_max_bytes", None)
        if max_bytes is not None:
            texts, length = limit_bytes(texts, max_bytes), None  # fewer texts than `length`, how many unknown
        tok.train_from_iterator(texts, trainer=trainer, length=length)
        self._tok = tok

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Batch-encode (parallel in Rust) without adding special tokens."""
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def encode_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(ids, (char start, char end) of each token in the original text) per text; extractive QA maps
        predicted token spans back to text with them."""
        return [(e.ids, list(e.offsets)) for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def decode_batch(self, ids: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        """Batch-decode."""
        texts: list[str] = self.backend.decode_batch(ids, skip_special_tokens=skip_special_tokens)
        return texts

    def save(self, directory: Path) -> None:
        """Write `tokenizer.json` into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / TOKENIZER_FILE))

    def load(self, directory: Path) -> None:
        """Read `tokenizer.json` from `directory`."""
        self._tok = read_tokenizer_json(Path(directory) / TOKENIZER_FILE)

    @property
    def vocab_size(self) -> int:
        """Vocabulary size including special tokens."""
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    def vocabulary(self) -> list[str]:
        """Tokens in id order."""
        by_id = sorted(self.backend.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
        return [token for token, _ in by_id]

    def token_to_id(self, token: str) -> int | None:
        """Id of `token`, or None."""
        found: int | None = self.backend.token_to_id(token)
        return found

    def special_tokens(self) -> dict[str, str]:
        """Role (pad, unk, ...) -> token string, for every role this tokenizer has a token for."""
        return {role: tok for role, tok in SPECIAL_TOKENS.items() if self.backend.token_to_id(tok) is not None}

    def special_id(self, role: str) -> int:
        """Id of the special token of `role`; a clear error when the tokenizer has none."""
        if role not in SPECIAL_TOKENS:
            raise PlaitError(f"unknown special-token role '{role}'; roles are {', '.join(SPECIAL_TOKENS)}")
        tokens = self.special_tokens()
        if role not in tokens:
            raise MissingSpecialTokenError(
                f"{type(self).__name__} has no {role} token (it has: {', '.join(tokens) or 'none'}); "
                f"map one with tokenizer.special_tokens.{role}=<token> (hf_pretrained) or use a trained tokenizer"
            )
        return int(self.backend.token_to_id(tokens[role]))

    def to_transformers(self) -> Any:
        """This tokenizer as a `transformers.PreTrainedTokenizerFast`, special-token roles set, ready to save."""
        from transformers import PreTrainedTokenizerFast

        roles = {f"{role}_token": token for role, token in self.special_tokens().items()}
        fast: Any = PreTrainedTokenizerFast  # transformers leaves this constructor unannotated
        return fast(tokenizer_object=self.backend, **roles)


def read_tokenizer_json(path: Path) -> Any:
    """Load a `tokenizers.Tokenizer` from a `tokenizer.json` file; a missing file is a PlaitError naming it."""
    from tokenizers import Tokenizer as Backend

    if not path.is_file():
        raise PlaitError(f"tokenizer file not found: {path}")
    return Backend.from_file(str(path))


def special_token_list() -> list[str]:
    """The special tokens in id order, for trainers."""
    return list(SPECIAL_TOKENS.values())


def normalizer(lowercase: bool, form: str = "NFC") -> Any:
    """Unicode normalisation (`form`: NFC | NFKC), then lower-casing when asked."""
    from tokenizers import normalizers

    steps = [getattr(normalizers, form)()] + ([normalizers.Lowercase()] if lowercase else [])
    return normalizers.Sequence(steps)


def metaspace_words() -> tuple[Any, Any]:
    """(pre-tokenizer, decoder) of SentencePiece-style words: spaces become `▁` word starts, and every other
    whitespace run (newlines, tabs) is a piece of its own first. Metaspace alone keeps `world\nNext` as one word:
    on a corpus of lines every line break made a new word, so the trainer's word table (its memory) grew with the
    corpus and pieces spanned lines. `first`: only the text's start gets a `▁`, so a word after a newline decodes
    without an added space."""
    from tokenizers import Regex, decoders, pre_tokenizers

    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r"[^\S ]+"), behavior="isolated"), pre_tokenizers.Metaspace(prepend_scheme="first")]
    )
    return pre, decoders.Metaspace(prepend_scheme="first")
