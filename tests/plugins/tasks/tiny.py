"""Tiny, fast run settings for the task tests: small generated corpora and small models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from framework.task import Task
from framework.tokenizer import Tokenizer

COMMON = ["precision=fp32", "trainer.max_steps=6", "trainer.eval_every_n_steps=6", "objective=val/loss"]
SMALL_TRANSFORMER = ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64", "model.max_length=64"]
SMALL_RNN = ["model.d_model=32", "model.d_hidden=32", "model.n_layers=1"]

SENTIMENT = [*COMMON, "task.demo_size=300", "tokenizer.vocab_size=200", *SMALL_TRANSFORMER]
LANGUAGE_MODELING = [
    *COMMON,
    "task=language_modeling",
    "task.demo_size=300",
    "task.block_size=32",
    "tokenizer=char",
    "model=transformer_decoder",
    *SMALL_TRANSFORMER,
]
TRANSLATION = [
    *COMMON,
    "task=translation",
    "task.demo_size=200",
    "task.max_length=24",
    "task.max_decode_length=12",
    "tokenizer.vocab_size=200",
    "model=transformer_seq2seq",
    *SMALL_TRANSFORMER,
]


def char_factory(role: str, texts: Callable[[], Iterable[str]], *, reuse: Path | None = None) -> Tokenizer:
    """A tokenizer factory that trains a fresh char tokenizer, as a new run does (never reusing one)."""
    from plugins.tokenizers.char import CharTokenizer, CharTokenizerConfig

    tok = CharTokenizer(CharTokenizerConfig())
    tok.train(texts())
    return tok


def train_steps(task: Task, model: torch.nn.Module, steps: int, lr: float) -> list[float]:
    """`steps` Adam updates of `model` on the task's training batches (epochs as needed); the losses."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    epoch = 0
    while len(losses) < steps:
        for batch in task.batches("train", batch_size=16, epoch_seed=epoch):
            loss = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
        epoch += 1
    return losses
