"""Token embeddings of the models: random or from pretrained word vectors, and output heads tied to them.

Pretrained vectors come from GloVe or word2vec text files, plain or inside a .zip.

GloVe files have one `word v1 ... vD` line per word; word2vec text files start with a `count dim`
header line. Tokens of `spec.vocab` are looked up as written, then lower-cased; rows not found keep
a random init scaled like the vectors found.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from framework import PlaitError, TaskSpec
from plugins.models.configs import EmbeddingConfig


@dataclass(frozen=True)
class Coverage:
    """How many vocabulary tokens found a pretrained vector."""

    found: int  # tokens with a vector (exact or lower-cased)
    lowercase: int  # of those, found only through their lower-case form
    total: int  # vocabulary size
    dim: int  # vector width

    @property
    def ratio(self) -> float:
        """found / total."""
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.found}/{self.total} tokens ({100 * self.ratio:.1f}%), {self.lowercase} by lower-case"


def _open_text(path: str) -> Iterator[str]:
    """Lines of a text file, or of one member of a zip (`a.zip`, `a.zip::member.txt`)."""
    archive, _, member = path.partition("::")
    if not Path(archive).is_file():
        raise PlaitError(f"pretrained embeddings file '{archive}' does not exist; fix model.pretrained_embeddings")
    if not zipfile.is_zipfile(archive):
        if member:
            raise PlaitError(f"'{archive}' is not a zip archive, so '::{member}' cannot name a member in it")
        with open(archive, encoding="utf-8", errors="replace") as f:
            yield from f
        return
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        if not member:
            stem = Path(archive).stem
            matching = [n for n in names if Path(n).stem == stem]
            member = names[0] if len(names) == 1 else (matching[0] if len(matching) == 1 else "")
        if member not in names:
            raise PlaitError(
                f"cannot tell which vectors file in '{archive}' to read (members: {', '.join(names[:10])}); "
                f"name one as '{archive}::<member>'"
            )
        with zf.open(member) as raw:
            yield from io.TextIOWrapper(raw, encoding="utf-8", errors="replace")


def read_vectors(path: str, wanted: set[str] | None = None) -> tuple[dict[str, Tensor], int]:
    """Vectors of the words in `wanted` (all when None) and the vector width, from a GloVe/word2vec file."""
    vectors: dict[str, Tensor] = {}
    dim = 0
    for n, line in enumerate(_open_text(path), 1):
        parts = line.rstrip().split(" ")
        if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):  # word2vec `count dim` header
            dim = int(parts[1])
            continue
        if len(parts) < 2:
            continue
        if not dim:
            dim = len(parts) - 1  # GloVe: the first line tells the width
        word, values = " ".join(parts[:-dim]), parts[-dim:]  # words may contain spaces (GloVe 840B)
        if not word or len(values) != dim:
            raise PlaitError(f"{path}:{n}: expected a word and {dim} numbers; is it a GloVe/word2vec text file?")
        if (wanted is None or word in wanted) and word not in vectors:
            try:
                vectors[word] = torch.tensor([float(v) for v in values])
            except ValueError as exc:
                raise PlaitError(f"{path}:{n}: {exc}; is it a GloVe/word2vec text file?") from exc
    if not dim:
        raise PlaitError(f"pretrained embeddings file '{path}' holds no vectors")
    return vectors, dim


def load_pretrained(embedding: nn.Embedding, path: str, vocab: list[str], *, freeze: bool = False) -> Coverage:
    """Copy vectors for `vocab` (ids in order) into `embedding`; prints and returns the coverage."""
    if not vocab:
        raise PlaitError(
            "model.pretrained_embeddings needs the task's vocabulary (spec.vocab), but the task gave none; "
            "use a word-level tokenizer/task that lists its tokens, or set model.pretrained_embeddings=null"
        )
    n_tokens, width = embedding.weight.shape
    if len(vocab) > n_tokens:
        raise PlaitError(f"spec.vocab lists {len(vocab)} tokens but the embedding has only {n_tokens} rows")
    vectors, dim = read_vectors(path, set(vocab) | {t.lower() for t in vocab})
    if dim != width:
        raise PlaitError(
            f"vectors in '{path}' have {dim} dimensions but the embedding has {width} (model.d_model); "
            f"set model.d_model={dim} or pick a {width}-d vectors file"
        )
    rows, ids, lowercase = [], [], 0
    for i, token in enumerate(vocab):
        vec = vectors.get(token)
        if vec is None and token.lower() in vectors:
            vec, lowercase = vectors[token.lower()], lowercase + 1
        if vec is not None:
            rows.append(vec)
            ids.append(i)
    with torch.no_grad():
        weight = embedding.weight
        if rows:
            found = torch.stack(rows)  # (found, D)
            weight.normal_(0.0, float(found.std()) if len(rows) > 1 else 1.0)  # missing rows: same scale
            weight[torch.tensor(ids)] = found.to(weight.dtype)
        if embedding.padding_idx is not None and embedding.padding_idx not in ids:
            weight[embedding.padding_idx].zero_()
    embedding.weight.requires_grad_(not freeze)
    coverage = Coverage(found=len(ids), lowercase=lowercase, total=len(vocab), dim=dim)
    print(f"pretrained embeddings '{path}': {coverage}{' (frozen)' if freeze else ''}")
    return coverage


def make_embedding(vocab_size: int, d_model: int, pad_id: int, cfg: EmbeddingConfig, spec: TaskSpec) -> nn.Embedding:
    """The input embedding of a model: random (std 0.02), or pretrained per `cfg`; `.coverage` when pretrained."""
    embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id if 0 <= pad_id < vocab_size else None)
    nn.init.normal_(embedding.weight, std=0.02)
    if embedding.padding_idx is not None:
        with torch.no_grad():
            embedding.weight[embedding.padding_idx].zero_()
    coverage: Coverage | None = None
    if cfg.pretrained_embeddings:
        coverage = load_pretrained(embedding, cfg.pretrained_embeddings, spec.vocab, freeze=cfg.freeze_embeddings)
    elif cfg.freeze_embeddings:
        raise PlaitError("model.freeze_embeddings=true only makes sense with model.pretrained_embeddings=<path>")
    cast(Any, embedding).coverage = coverage  # our attribute: nn.Module's __setattr__ is typed for tensors and modules
    return embedding


def tied_head(d_in: int, vocab_size: int, tie_to: nn.Embedding | None) -> nn.Linear:
    """Output projection d_in -> vocab (no bias), sharing `tie_to`'s weight matrix when given (needs d_in == its width)."""
    head = nn.Linear(d_in, vocab_size, bias=False)
    if tie_to is None:
        nn.init.normal_(head.weight, std=0.02)
        return head
    if tuple(tie_to.weight.shape) != (vocab_size, d_in):
        raise PlaitError(
            f"model.tie_embeddings=true shares the {tuple(tie_to.weight.shape)} embedding with an output layer of "
            f"input width {d_in} and {vocab_size} outputs; make the widths equal (e.g. model.d_hidden = model.d_model) "
            "or set model.tie_embeddings=false"
        )
    head.weight = tie_to.weight
    return head
