"""Causal language modelling over text files of any size, in packed contiguous blocks; metrics loss and perplexity.

Each split is tokenized once into a token store (documents streamed, end-of-text between them; see
`plugins/tasks/lm_data.py`) and memory-mapped. Training takes `block_size + 1` token windows at a per-epoch
random offset, shuffled by the epoch seed, each process of a distributed run slicing only its own windows;
evaluation walks the split in order. Without a val file the last `val_ratio` of the training tokens is held out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import (
    LANGUAGE_MODELING,
    Batch,
    DataError,
    Partials,
    Task,
    TaskSpec,
    TokenizerFactory,
)
from plugins.tasks.configs import LanguageModelingConfig
from plugins.tasks.generation import generate_ids
from plugins.tasks.limits import limited_blocks
from plugins.tasks.lm_data import LanguageModelData
from plugins.tasks.samples import fixed_choice
from plugins.tasks.text_data import SplitData, configured_splits

SAMPLE_TOKENS = 32  # tokens of a sample's prompt, and of its continuation (at most half the block each)


class LanguageModelingTask(Task):
    """Next-token prediction; the model maps input_ids (B, T) to logits (B, T, vocab)."""

    throughput_unit = "tokens"

    def __init__(self, cfg: LanguageModelingConfig) -> None:
        self.cfg = cfg
        self.data = LanguageModelData(cfg)
        self.tokens: SplitData[np.ndarray] = SplitData(self._prepare)
        self._chars_per_token: dict[str, float] = {}  # characters of each split's text per token
        self._eval_split = "val"  # the split the current evaluation walks

    def _prepare(self, split: str) -> np.ndarray:
        """The ids of one split, memory-mapped, checked to fill a block (a reopened run reads only its split)."""
        tokens, self._chars_per_token[split] = self.data.tokens(split)
        if len(tokens) < self.cfg.block_size + 1:
            raise DataError(
                f"the {split} text has {len(tokens)} tokens, fewer than task.block_size + 1 = "
                f"{self.cfg.block_size + 1}; lower task.block_size or give more text"
            )
        return tokens

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Train (or reuse) the tokenizer on the training text, then tokenize each split into its store."""
        self.tokenizer = self.data.train_tokenizer(tokenizer_factory)
        for split in self.splits():
            self.tokens[split]
        return TaskSpec(
            kind=LANGUAGE_MODELING,
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.tokenizer.pad_id,
            max_length=self.cfg.block_size,
            vocab=self.tokenizer.vocabulary(),
        )

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """The run's saved tokenizer; no text is read."""
        self.tokenizer = self.data.tokenizer = tokenizer_factory("text", list)

    def metric_names(self) -> list[str]:
        """What `reduce` returns: token loss, perplexity and loss per character (when the split's text is known)."""
        return ["loss", "perplexity", "loss_per_char"]

    def splits(self) -> list[str]:
        """train and val (held out of train without a val file), and test when a file has it."""
        return configured_splits(self.cfg, generated=("train",))

    def num_examples(self, split: str) -> int | None:
        """Blocks of `task.block_size` tokens in `split` (what `trainer.batch_size` counts)."""
        blocks = (len(self.tokens[split]) - 1) // self.cfg.block_size
        return limited_blocks(blocks, self.cfg.limit(split), self.cfg.block_size)

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files read (path, bytes, sha256); the held-out val split is part of train's."""
        return dict(self.data.files)

    def prepared(self) -> list[dict[str, Any]]:
        """The steps of the last setup: files recorded, tokenizer trained or loaded, stores prepared or found."""
        return list(self.data.rows)

    def _starts(self, split: str, seed: int | None) -> np.ndarray:
        """First token of every block: shuffled with a random offset when seeded, in order otherwise."""
        size, n = self.cfg.block_size, len(self.tokens[split])
        limit = self.cfg.limit(split)  # tokens read: whole blocks, from the start of the split
        n = n if limit is None else min(n, size * limited_blocks((n - 1) // size, limit, size) + 1)
        rng = np.random.default_rng(seed) if seed is not None else None
        offset = int(rng.integers(size)) if rng is not None and n - 1 >= 2 * size else 0
        starts = offset + np.arange((n - 1 - offset) // size) * size
        return rng.permutation(starts) if rng is not None else starts

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Packed (input_ids, labels) blocks; train shuffled by `epoch_seed`, other splits in order."""
        return self.rank_batches(split, batch_size=batch_size, epoch_seed=epoch_seed, start=start, rank=0, world=1)

    def rank_batches(
        self, split: str, *, batch_size: int, epoch_seed: int, start: int, rank: int, world: int
    ) -> Iterator[Batch]:
        """Batch b of the epoch order goes to process b % world (whole rounds only, as `Task.rank_batches`); each
        process slices only its own windows out of the memory map."""
        starts = self._split_starts(split, epoch_seed)
        n_batches = math.ceil(len(starts) / batch_size)
        return self._windows(split, starts, batch_size, range(start + rank, n_batches - n_batches % world, world))

    def eval_batches(self, split: str, *, batch_size: int) -> Iterator[Batch]:
        """The split's blocks in order (remembering the split, for its characters per token)."""
        return self.eval_rank_batches(split, batch_size=batch_size, rank=0, world=1)

    def eval_rank_batches(self, split: str, *, batch_size: int, rank: int, world: int) -> Iterator[Batch]:
        """Evaluation batch i goes to process i % world (all of them, as `Task.eval_rank_batches`); each process
        slices only its own windows."""
        self._eval_split = split
        starts = self._split_starts(split, 0)
        return self._windows(split, starts, batch_size, range(rank, math.ceil(len(starts) / batch_size), world))

    def _split_starts(self, split: str, epoch_seed: int) -> np.ndarray:
        """First tokens of the pass: train's shuffled by `epoch_seed`; others in order, at most eval_max_blocks."""
        if split == "train":
            return self._starts(split, epoch_seed)
        starts = self._starts(split, None)
        return starts if self.cfg.eval_max_blocks is None else starts[: self.cfg.eval_max_blocks]

    def _windows(self, split: str, starts: np.ndarray, batch_size: int, batches: range) -> Iterator[Batch]:
        """Packed (input_ids, labels) blocks of the batches numbered `batches`, sliced from the memory map."""
        tokens, window = self.tokens[split], np.arange(self.cfg.block_size + 1)
        for b in batches:
            rows = tokens[starts[b * batch_size : (b + 1) * batch_size, None] + window]
            block = torch.from_numpy(rows.astype(np.int64))
            x, y = block[:, :-1], block[:, 1:]
            yield Batch({"input_ids": x, "labels": y}, n_samples=x.shape[0], n_tokens=x.numel())

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Mean next-token cross-entropy."""
        logits = model(batch["input_ids"], None)
        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten())

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

    def samples(self, model: nn.Module, split: str, n: int) -> list[dict[str, str]]:
        """`n` fixed places of `split` (chosen by task.seed): a prompt, the text that follows it there (reference)
        and the model's greedy continuation."""
        tokens, size = self.tokens[split], self.cfg.block_size
        length = max(1, min(SAMPLE_TOKENS, size // 2))
        rows = []
        for start in fixed_choice(len(tokens) - 2 * length + 1, n, self.cfg.seed):
            prompt = tokens[start : start + length].tolist()
            out = generate_ids(model, prompt, max_new_tokens=length, context=size, temperature=0.0)
            rows.append(
                {
                    "prompt": self.tokenizer.decode(prompt),
                    "reference": self.tokenizer.decode(tokens[start + length : start + 2 * length].tolist()),
                    "continuation": self.tokenizer.decode(out[length:]),
                }
            )
        return rows

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
        beam_size: int = 1,
    ) -> str:
        """`prompt` and its sampled continuation (the best of `beam_size` beams when above 1), as text."""
        ids = generate_ids(
            model,
            self.tokenizer.encode(prompt),
            max_new_tokens=max_new_tokens,
            context=self.cfg.block_size,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            beam_size=beam_size,
        )
        return self.tokenizer.decode(ids)


def build_language_modeling(cfg: LanguageModelingConfig) -> LanguageModelingTask:
    """Causal LM over a text file (or a generated corpus) in packed blocks; loss and perplexity."""
    return LanguageModelingTask(cfg)
