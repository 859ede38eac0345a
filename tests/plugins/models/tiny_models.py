"""Tiny model configs, task specs, batches and a training loop shared by the model tests.

MODEL_CASES is the declared list the contract tests run over: every registered model key needs an
entry (tiny config + the task kinds it supports), or an entry with `skip` giving the reason and where
the model is tested instead. A registered key without an entry fails the contract tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.plugins import load_plugins
from framework.registry import MODELS
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, TaskSpec

KINDS = (CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ)
VOCAB, TARGET_VOCAB, N_CLASSES, PAD, BOS = 23, 19, 3, 0, 1
RNN_TINY = {"d_model": 16, "d_hidden": 16, "n_layers": 2, "bidirectional": True}
TRANSFORMER_TINY = {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 2, "max_length": 32}
HF_TINY = {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


@dataclass(frozen=True)
class ModelCase:
    """How the contract tests build one registered model: tiny options and the task kinds it supports."""

    kinds: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict)
    per_kind: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra options for one kind
    skip: str | None = None  # reason the contract tests do not build it (say where it is tested instead)


MODEL_CASES: dict[str, ModelCase] = {
    "lstm": ModelCase(KINDS, RNN_TINY, {LANGUAGE_MODELING: {"bidirectional": False}}),
    "gru": ModelCase(
        KINDS, RNN_TINY, {LANGUAGE_MODELING: {"bidirectional": False}, SEQ2SEQ: {"attention": "bahdanau"}}
    ),
    "transformer_encoder": ModelCase((CLASSIFICATION,), TRANSFORMER_TINY),
    "transformer_decoder": ModelCase((LANGUAGE_MODELING,), {**TRANSFORMER_TINY, "positional": "rope"}),
    "transformer_seq2seq": ModelCase((SEQ2SEQ,), {**TRANSFORMER_TINY, "positional": "sinusoidal"}),
    "hf_encoder_classifier": ModelCase((CLASSIFICATION,), HF_TINY),
    "hf_causal_lm": ModelCase((LANGUAGE_MODELING,), HF_TINY),
    "hf_seq2seq": ModelCase((SEQ2SEQ,), HF_TINY),
    # question_answering only (not one of KINDS here): its forward contract is tested in test_memn2n.py
    "memn2n": ModelCase((), {"d_model": 8, "hops": 2}),
    "bag_of_embeddings": ModelCase((CLASSIFICATION,), {"d_model": 8}),  # tests/example_plugin, when installed
}


def registered_models() -> list[str]:
    """Every model key registered once all plugins are loaded."""
    load_plugins()
    return MODELS.names()


def require_case(key: str) -> ModelCase:
    """The MODEL_CASES entry of `key`; fails the test, saying what to add, when there is none."""
    if key not in MODEL_CASES:
        pytest.fail(
            f"model '{key}' is registered but has no entry in MODEL_CASES (tests/plugins/models/tiny_models.py); "
            "add ModelCase(kinds=(...), config={tiny sizes}) so the contract tests build it, or "
            "ModelCase(kinds=(...), skip='<why; where it is tested instead>')"
        )
    return MODEL_CASES[key]


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
        extra={"bos_id": BOS, "eos_id": 2},
        **extra,
    )


def build(key: str, kind: str, seed: int = 0, **overrides: Any) -> nn.Module:
    """The model `key` for task `kind`, with its tiny MODEL_CASES options plus `overrides`."""
    case = require_case(key)
    torch.manual_seed(seed)
    cfg = MODELS.config(key, **{**case.config, **case.per_kind.get(kind, {}), **overrides})
    return MODELS.build(cfg, spec=spec_for(kind))


def keep_mask(lengths: list[int], length: int) -> Tensor:
    """(B, length) bool mask, True on the first lengths[b] positions (right padding)."""
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


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


def run(model: nn.Module, kind: str, batch: dict[str, Tensor]) -> Tensor:
    """The model's forward per the contract of `kind`."""
    if kind == SEQ2SEQ:
        return model(batch["src_ids"], batch["src_mask"], batch["tgt_in"])
    return model(batch["input_ids"], batch["attention_mask"])


def loss_of(logits: Tensor, kind: str, batch: dict[str, Tensor]) -> Tensor:
    """Cross-entropy of `logits` for `kind` (LM: next token over real positions)."""
    logits = logits.float()
    if kind == CLASSIFICATION:
        return F.cross_entropy(logits, batch["labels"])
    if kind == LANGUAGE_MODELING:
        targets = batch["input_ids"][:, 1:].masked_fill(~batch["attention_mask"][:, 1:], -100)
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
    return F.cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten())


def expected_shape(kind: str, batch: dict[str, Tensor], target_vocab: int = TARGET_VOCAB) -> tuple[int, ...]:
    """The logits shape the forward contract promises for `batch`."""
    if kind == CLASSIFICATION:
        return (batch["input_ids"].shape[0], N_CLASSES)
    if kind == LANGUAGE_MODELING:
        return (*batch["input_ids"].shape, VOCAB)
    return (*batch["tgt_in"].shape, target_vocab)


# -- tiny learnable data sets ------------------------------------------------------------------------


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
    """Copy task: the target repeats the source (tokens 3..target_vocab-1); right-padded sources."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, target_vocab, (n, length), generator=g)
    mask = torch.ones_like(src, dtype=torch.bool)
    tgt_in = torch.cat([torch.full((n, 1), BOS), src[:, :-1]], dim=1)
    return {"src_ids": src, "src_mask": mask, "tgt_in": tgt_in, "tgt_out": src.clone()}


def train_losses(
    model: nn.Module, kind: str, data: dict[str, Tensor], steps: int, lr: float = 2e-2, batch_size: int = 16
) -> tuple[float, float]:
    """Adam on mini-batches of `data` for `steps`; returns (mean loss of the first 3, of the last 3 steps)."""
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    n = next(iter(data.values())).shape[0]
    losses = []
    model.train()
    for step in range(steps):
        idx = torch.arange(step * batch_size, (step + 1) * batch_size) % n
        batch = {k: v[idx] for k, v in data.items()}
        loss = loss_of(run(model, kind, batch), kind, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[:3]) / 3, sum(losses[-3:]) / 3
