"""Causal language modelling over a text file, in packed contiguous blocks; metrics loss and perplexity.

The text of each split is tokenized as one stream (cached on disk). Training takes `block_size + 1`
token windows at a per-epoch random offset, shuffled by the epoch seed; evaluation walks the split in
order. Without a val file the last `val_ratio` of the training text is held out (nanoGPT's split).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import (
    LANGUAGE_MODELING,
    TASKS,
    Batch,
    DataError,
    Partials,
    Task,
    TaskSpec,
    TokenizerFactory,
    read_utf8,
    require,
)
from plugins.tasks.demo_corpora import lm_text
from plugins.tasks.generation import generate_ids
from plugins.tasks.text_data import (
    DataFormat,
    SplitData,
    TextDataConfig,
    configured_splits,
    detect_format,
    load_splits,
    read_records,
    split_rows,
)
from plugins.tasks.token_cache import TokenCache, cache_root


@dataclass
class LanguageModelingConfig(TextDataConfig):
    """A text to model; without val_path the last val_ratio of it is the validation text."""

    format: DataFormat = DataFormat.text  # text: the whole file, line breaks kept; tsv/csv/jsonl/hf_disk: rows joined
    text_column: str = "text"  # column / key holding the text in tsv/csv/jsonl/hf_disk files
    block_size: int = 128  # tokens per training sequence: the model's context
    eval_max_blocks: Optional[int] = None  # evaluate on at most this many blocks; null: the whole split
    demo_size: int = 3000  # sentences in the generated corpus (when train_path is null)

    def validate(self) -> None:
        """Range checks, and only the formats a single text can come from."""
        super().validate()
        allowed = ("auto", "text", "tsv", "csv", "jsonl", "hf_disk")
        require(self.format in allowed, "format", str(self.format), f"one of {', '.join(allowed)}")


def tail_split(text: str, val_ratio: float) -> tuple[str, str]:
    """(first 1 - val_ratio of the characters, the rest)."""
    if not 0 < val_ratio < 1:
        raise DataError(f"task.val_ratio={val_ratio} must be between 0 and 1 (or set task.val_path)")
    cut = int(len(text) * (1 - val_ratio))
    return text[:cut], text[cut:]


class LanguageModelingTask(Task):
    """Next-token prediction; the model maps input_ids (B, T) to logits (B, T, vocab)."""

    throughput_unit = "tokens"

    def __init__(self, cfg: LanguageModelingConfig) -> None:
        self.cfg = cfg
        self.tokens: SplitData[np.ndarray] = SplitData(self._prepare)
        self._chars_per_token: dict[str, float] = {}  # characters of each split's text per token
        self._eval_split = "val"  # the split the current evaluation walks

    def _read(self, path: str, split: str) -> str:
        fmt = detect_format(Path(path), self.cfg.format)
        if fmt == "text":
            text = read_utf8(Path(path).expanduser())
        else:
            text = "\n".join(v[0] for _, v in read_records(path, [self.cfg.text_column], fmt, split=split)) + "\n"
        if not text.strip():
            raise DataError(f"{path}: no text (task.{split}_path)")
        return text

    def _texts(self, only: str | None = None) -> dict[str, str]:
        c = self.cfg
        return load_splits(
            c,
            self._read,
            lambda: {"train": lm_text(c.demo_size, c.seed)},
            lambda t: tail_split(t, c.val_ratio),
            only=only,
        )

    def _stream(self, split: str, text: str) -> np.ndarray:
        """The split's text as one token stream (through the on-disk cache), checked to fill a block."""
        c = self.cfg
        tokens = TokenCache(self.tokenizer, cache_root(c.cache_dir) if c.cache else None).encode([text], "stream")[0]
        if len(tokens) < c.block_size + 1:
            raise DataError(
                f"the {split} text has {len(tokens)} tokens, fewer than task.block_size + 1 = {c.block_size + 1}; "
                "lower task.block_size or give more text"
            )
        self._chars_per_token[split] = len(text) / len(tokens)
        return tokens

    def _prepare(self, split: str) -> np.ndarray:
        """One split read on first use (a reopened run reads only the split it evaluates)."""
        return self._stream(split, split_rows(self._texts(only=split), split))

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read the splits, get the tokenizer (trained on the train text), tokenize each split as one stream."""
        texts = self._texts()
        self.tokenizer = tokenizer_factory("text", lambda: [texts["train"]])
        for split, text in texts.items():
            self.tokens[split] = self._stream(split, text)
        return TaskSpec(
            kind=LANGUAGE_MODELING,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.tokenizer.pad_id,
            max_length=self.cfg.block_size,
            vocab=self.tokenizer.vocabulary(),
        )

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """The run's saved tokenizer; no text is read."""
        self.tokenizer = tokenizer_factory("text", list)

    def splits(self) -> list[str]:
        """train and val (held out of train without a val file), and test when a file has it."""
        return configured_splits(self.cfg, generated=("train",))

    def num_examples(self, split: str) -> int | None:
        """Blocks of `task.block_size` tokens in `split` (what `trainer.batch_size` counts)."""
        return (len(self.tokens[split]) - 1) // self.cfg.block_size

    def _starts(self, split: str, seed: int | None) -> np.ndarray:
        """First token of every block: shuffled with a random offset when seeded, in order otherwise."""
        size, n = self.cfg.block_size, len(self.tokens[split])
        rng = np.random.default_rng(seed) if seed is not None else None
        offset = int(rng.integers(size)) if rng is not None and n - 1 >= 2 * size else 0
        starts = offset + np.arange((n - 1 - offset) // size) * size
        return rng.permutation(starts) if rng is not None else starts

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Packed (input_ids, labels) blocks; train shuffled by `epoch_seed`, other splits in order."""
        starts = self._starts(split, epoch_seed if split == "train" else None)
        if split != "train" and self.cfg.eval_max_blocks is not None:
            starts = starts[: self.cfg.eval_max_blocks]
        tokens, size = self.tokens[split], self.cfg.block_size
        for b in range(start, math.ceil(len(starts) / batch_size)):
            rows = np.stack([tokens[s : s + size + 1] for s in starts[b * batch_size : (b + 1) * batch_size]])
            block = torch.from_numpy(rows.astype(np.int64))
            x, y = block[:, :-1], block[:, 1:]
            yield Batch({"input_ids": x, "labels": y}, n_samples=x.shape[0], n_tokens=x.numel())

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Mean next-token cross-entropy."""
        logits = model(batch["input_ids"], None)
        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten())

    def eval_batches(self, split: str, *, batch_size: int) -> Iterator[Batch]:
        """The split's blocks in order (remembering the split, for its characters per token)."""
        self._eval_split = split
        return self.batches(split, batch_size=batch_size, epoch_seed=0)

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        """Summed next-token loss and the number of predicted tokens."""
        logits = model(batch["input_ids"], None).float()
        loss_sum = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), reduction="sum")
        return {"loss_sum": loss_sum, "count": batch["labels"].numel()}

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        """Mean token loss, perplexity (exp of it) and loss per character over the split's blocks.

        `loss_per_char` (nats per character of the split's text) compares models with different tokenizers:
        the token loss divided by the split's characters per token.
        """
        loss = sum(float(p["loss_sum"]) for p in partials) / max(sum(int(p["count"]) for p in partials), 1)
        metrics = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
        if self._eval_split in self._chars_per_token:
            metrics["loss_per_char"] = loss / self._chars_per_token[self._eval_split]
        return metrics

    def generate(
        self,
        model: nn.Module,
        prompt: str,
        *,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        seed: int,
    ) -> str:
        """`prompt` and its sampled continuation, as text."""
        ids = generate_ids(
            model,
            self.tokenizer.encode(prompt),
            max_new_tokens=max_new_tokens,
            context=self.cfg.block_size,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        return self.tokenizer.decode(ids)


@TASKS.register("language_modeling", config=LanguageModelingConfig)
def build_language_modeling(cfg: LanguageModelingConfig) -> LanguageModelingTask:
    """Causal LM over a text file (or a generated corpus) in packed blocks; loss and perplexity."""
    return LanguageModelingTask(cfg)
