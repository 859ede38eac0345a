"""A pretrained Hugging Face tokenizer read from local disk (a `tokenizer.json` or a tokenizer directory; no hub).

Our special-token roles (pad, unk, bos, eos, cls, sep, mask) are mapped onto the tokenizer's own special
tokens: explicit `special_tokens` overrides first, then the directory's tokenizer_config.json /
special_tokens_map.json, then well-known token names. A tokenizer without a pad token gets `<pad>` added.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from framework import SPECIAL_TOKENS, ComponentConfig, PlaitError
from plugins.tokenizers.hf_base import TOKENIZER_FILE, HFTokenizer, read_tokenizer_json

ROLES_FILE = "special_tokens.json"  # role -> token, saved next to tokenizer.json
HF_CONFIG_FILES = ("special_tokens_map.json", "tokenizer_config.json")

# Token names that common pretrained tokenizers use for each role, most specific first.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
    "bos": ("<bos>", "<s>", "[BOS]", "<|startoftext|>", "<|begin_of_text|>", "<|endoftext|>"),
    "eos": ("<eos>", "</s>", "[EOS]", "<|end_of_text|>", "<|endoftext|>"),
    "cls": ("<cls>", "[CLS]", "<s>"),
    "sep": ("<sep>", "[SEP]", "</s>"),
    "mask": ("<mask>", "[MASK]"),
}


@dataclass
class HFPretrainedTokenizerConfig(ComponentConfig):
    """Where the pretrained tokenizer is and how its special tokens map onto plait's roles."""

    path: Optional[str] = None  # a tokenizer.json file or a local HF tokenizer directory (never downloaded)
    special_tokens: dict[str, str] = field(
        default_factory=dict
    )  # role -> token overrides: +tokenizer.special_tokens.pad=<token>


class HFPretrainedTokenizer(HFTokenizer[HFPretrainedTokenizerConfig]):
    """Wraps an existing HF tokenizer unchanged (bar an added pad token); `train()` learns nothing."""

    def __init__(self, cfg: HFPretrainedTokenizerConfig) -> None:
        super().__init__(cfg)
        self._roles: dict[str, str] = {}

    def train(self, texts: Iterable[str], length: int | None = None) -> None:
        """No training: read the tokenizer at `path` and map its special tokens (the texts are ignored)."""
        if not self.cfg.path:
            raise PlaitError(
                "tokenizer=hf_pretrained needs tokenizer.path=<tokenizer.json file or local HF tokenizer directory>"
            )
        path = Path(self.cfg.path).expanduser()
        if not path.exists():
            raise PlaitError(
                f"tokenizer.path={self.cfg.path}: {path} does not exist; point it at a tokenizer.json file "
                "or a local Hugging Face tokenizer directory (the hub is never used)"
            )
        self._tok = read_tokenizer_json(path) if path.is_file() else _read_directory(path)
        declared = _declared_roles(path if path.is_dir() else path.parent)
        self._roles = self._map_roles({**declared, **self.cfg.special_tokens})

    def _map_roles(self, declared: dict[str, str]) -> dict[str, str]:
        """Role -> token: declared names (validated), else a known name present in the vocabulary; adds pad."""
        unknown = sorted(set(declared) - set(SPECIAL_TOKENS))
        if unknown:
            raise PlaitError(
                f"tokenizer.special_tokens: unknown role(s) {', '.join(unknown)}; roles are {', '.join(SPECIAL_TOKENS)}"
            )
        roles: dict[str, str] = {}
        for role in SPECIAL_TOKENS:
            if role in declared:
                if self._tok.token_to_id(declared[role]) is None:
                    raise PlaitError(
                        f"{role} token {declared[role]!r} is not in the vocabulary of {self.cfg.path}; "
                        f"fix tokenizer.special_tokens.{role}"
                    )
                roles[role] = declared[role]
                continue
            found = next((t for t in KNOWN_NAMES[role] if self._tok.token_to_id(t) is not None), None)
            if found is not None:
                roles[role] = found
        if "pad" not in roles:  # batches need padding: add one at the end of the vocabulary
            self._tok.add_special_tokens([SPECIAL_TOKENS["pad"]])
            roles["pad"] = SPECIAL_TOKENS["pad"]
        return roles

    def special_tokens(self) -> dict[str, str]:
        """Role -> token string as mapped at load time."""
        self.backend  # noqa: B018  (errors clearly before train/load)
        return dict(self._roles)

    def save(self, directory: Path) -> None:
        """Write tokenizer.json (with any added pad token) and the role map."""
        super().save(directory)
        (directory / ROLES_FILE).write_text(json.dumps(self._roles, indent=2) + "\n", encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Restore what `save` wrote; the original `path` is not needed any more."""
        super().load(directory)
        roles_file = Path(directory) / ROLES_FILE
        if not roles_file.is_file():
            raise PlaitError(f"{roles_file} is missing; the saved hf_pretrained tokenizer is incomplete")
        self._roles = json.loads(roles_file.read_text(encoding="utf-8"))


def _read_directory(path: Path) -> Any:
    """The backend of a tokenizer directory: its tokenizer.json, else converted by transformers (local files only)."""
    if (path / TOKENIZER_FILE).is_file():
        return read_tokenizer_json(path / TOKENIZER_FILE)
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PlaitError(f"tokenizer.path={path}: not a loadable Hugging Face tokenizer directory ({exc})") from exc
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise PlaitError(f"tokenizer.path={path}: only fast (tokenizers-backed) tokenizers are supported")
    return backend


def _declared_roles(directory: Path) -> dict[str, str]:
    """`<role>_token` entries of a HF directory's special_tokens_map.json / tokenizer_config.json."""
    roles: dict[str, str] = {}
    for name in HF_CONFIG_FILES:
        file = directory / name
        if not file.is_file():
            continue
        data = json.loads(file.read_text(encoding="utf-8"))
        for role in SPECIAL_TOKENS:
            value = data.get(f"{role}_token")
            if isinstance(value, dict):  # serialised AddedToken
                value = value.get("content")
            if isinstance(value, str) and role not in roles:
                roles[role] = value
    return roles


def build_hf_pretrained(cfg: HFPretrainedTokenizerConfig) -> HFPretrainedTokenizer:
    """A local pretrained Hugging Face tokenizer (tokenizer.json or directory); not trained."""
    return HFPretrainedTokenizer(cfg)
