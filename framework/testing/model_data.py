"""What a tiny model sees: one vocabulary layout for every task kind, its TaskSpec, a random contract batch,
and toy datasets a model that learns gets right within a few hundred steps."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, TaskSpec

KINDS = (CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ)
VOCAB, TARGET_VOCAB, N_CLASSES, PAD, BOS, EOS = 23, 19, 3, 0, 1, 2


def keep_mask(lengths: list[int], length: int) -> Tensor:
    """(B, length) bool mask, True on the first lengths[b] positions (right padding)."""
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


def spec_for(kind: str, *, shared_vocab: bool = False, vocab: list[str] | None = None, **extra: Any) -> TaskSpec:
    """A tiny TaskSpec of `kind` (seq2seq gets a separate target vocabulary unless `shared_vocab`)."""
    target = None if shared_vocab or kind != SEQ2SEQ else TARGET_VOCAB
    return TaskSpec(
        kind=kind,
        vocab_size=VOCAB,
        pad_id=PAD,
        n_classes=N_CLASSES,
        max_length=32,
        target_vocab_size=target,
        vocab=vocab or [],
        extra={"bos_id": BOS, "eos_id": EOS},
        **extra,
    )


def contract_batch(kind: str, seed: int = 0) -> dict[str, Tensor]:
    """A random right-padded batch (B=3) for `kind`, with the targets its loss needs."""
    g = torch.Generator().manual_seed(seed)
    mask = keep_mask([6, 4, 2], 6)
    ids = torch.randint(3, VOCAB, (3, 6), generator=g).masked_fill(~mask, PAD)
    if kind == CLASSIFICATION:
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2])}
    if kind == LANGUAGE_MODELING:
        return {"input_ids": ids, "attention_mask": mask}
    tgt = torch.randint(3, TARGET_VOCAB, (3, 5), generator=g)
    tgt_in = torch.cat([torch.full((3, 1), BOS), tgt[:, :-1]], dim=1)
    return {"src_ids": ids, "src_mask": mask, "tgt_in": tgt_in, "tgt_out": tgt}


def signal_classification(n: int = 48, length: int = 8, seed: int = 0) -> dict[str, Tensor]:
    """Each sequence holds one signal token (3, 4 or 5) among noise tokens; the label is which one."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    mask = keep_mask(lengths.tolist(), length)
    ids = torch.randint(6, VOCAB, (n, length), generator=g)
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    where = (torch.rand(n, generator=g) * lengths).long()
    ids[torch.arange(n), where] = 3 + labels
    return {"input_ids": ids.masked_fill(~mask, PAD), "attention_mask": mask, "labels": labels}


def counting_lm(n: int = 32, length: int = 10, seed: int = 0) -> dict[str, Tensor]:
    """Sequences counting up through tokens 3..VOCAB-1 (wrapping) from a random start."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB - 3, (n, 1), generator=g)
    ids = 3 + (start + torch.arange(length)) % (VOCAB - 3)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool)}


def copy_seq2seq(n: int = 48, length: int = 6, seed: int = 0, target_vocab: int = TARGET_VOCAB) -> dict[str, Tensor]:
    """Copy task: the target repeats the source (tokens 3..target_vocab-1)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, target_vocab, (n, length), generator=g)
    mask = torch.ones_like(src, dtype=torch.bool)
    tgt_in = torch.cat([torch.full((n, 1), BOS), src[:, :-1]], dim=1)
    return {"src_ids": src, "src_mask": mask, "tgt_in": tgt_in, "tgt_out": src.clone()}
