"""The tokenizer interface: trained on a task's text, saved with the run, reloaded for resume and inference."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

# The same special tokens, in the same id order, for every tokenizer: pad is always id 0.
SPECIAL_TOKENS: dict[str, str] = {
    "pad": "<pad>",
    "unk": "<unk>",
    "bos": "<bos>",
    "eos": "<eos>",
    "cls": "<cls>",
    "sep": "<sep>",
    "mask": "<mask>",
}


class Tokenizer(ABC):
    """Text <-> token ids. Implementations keep SPECIAL_TOKENS at ids 0..6 unless loaded from elsewhere."""

    @abstractmethod
    def train(self, texts: Iterable[str], length: int | None = None) -> None:
        """Learn the vocabulary from training text, read once as it streams; `length`: how many texts it
        yields when known (for progress only; implementations may ignore it)."""

    @abstractmethod
    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids for each text (no special tokens added)."""

    @abstractmethod
    def decode_batch(self, ids: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        """Text for each id sequence."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to `load` into `directory`."""

    @abstractmethod
    def load(self, directory: Path) -> None:
        """Restore a tokenizer written by `save`."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    @abstractmethod
    def token_to_id(self, token: str) -> int | None:
        """The id of one token string, or None when it is not in the vocabulary."""

    def vocabulary(self) -> list[str]:
        """All tokens in id order (used to look up pretrained word vectors)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its vocabulary")

    def encode(self, text: str) -> list[int]:
        """Token ids of one text."""
        return self.encode_batch([text])[0]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """Text of one id sequence."""
        return self.decode_batch([ids], skip_special_tokens)[0]

    def special_id(self, role: str) -> int:
        """Id of a special token by role: pad, unk, bos, eos, cls, sep, mask."""
        token_id = self.token_to_id(SPECIAL_TOKENS[role])
        if token_id is None:
            raise KeyError(f"tokenizer {type(self).__name__} has no {role} token {SPECIAL_TOKENS[role]!r}")
        return token_id

    @property
    def pad_id(self) -> int:
        """Id used to pad batches."""
        return self.special_id("pad")


def special_token_ids(tokenizer: Tokenizer, roles: tuple[str, ...]) -> dict[str, int]:
    """`<role>_id -> id` for the special-token roles the tokenizer has (a pretrained one may lack some)."""
    ids: dict[str, int] = {}
    for role in roles:
        try:
            ids[f"{role}_id"] = tokenizer.special_id(role)
        except KeyError:
            continue
    return ids


def directory_digest(directory: Path, salt: str = "") -> str:
    """sha256 over `salt` and the relative names and bytes of every file under `directory`.

    Equal digests of two saved tokenizers mean equal encodings; a checkpoint records its tokenizer's digest.
    """
    digest = hashlib.sha256(salt.encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
