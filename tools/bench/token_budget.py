"""Benchmark: what `trainer.max_tokens` batches look like beside `trainer.batch_size` batches, over one epoch of an
experiment's training split: batches per epoch, sentences per batch, real (non-pad) tokens per batch and how much
they vary, and the padding share of the tensors the model gets (both sides of a translation pair).

A benchmark, not a test; it reads no clock, so a busy machine does not change its numbers. It prepares (or finds in
the cache) the experiment's data as `plait prepare` does.

  python tools/bench/token_budget.py data_root=../shared/data --budgets 1024 2048
  python tools/bench/token_budget.py experiment=sst2_lstm_glove data_root=../shared/data --batch-size 32 --budgets 600
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from framework.engine.tokenizer_factory import training_tokenizers
from framework.kinds import TASKS
from framework.plugins import load_plugins
from framework.task import Batch
from framework.testing import compose

# the (ids, pad-aware real count) tensors of each task kind's batches: padded size, and how to count real tokens
PADDED = {"src_ids": "src_mask", "tgt_out": None, "input_ids": "attention_mask"}


def row(name: str, batches: Iterable[Batch], pad_id: int) -> str:
    """One markdown table row describing one epoch of `batches`."""
    sizes, reals = [], []
    padded = 0
    for batch in batches:
        real = 0
        for key, mask in PADDED.items():
            if key in batch.tensors:
                tensor = batch[key]
                real += int(batch[mask].sum()) if mask else int((tensor != pad_id).sum())
                padded += tensor.numel()
        sizes.append(batch.n_samples)
        reals.append(real)
    real_tokens = np.array(reals)
    share = 100 * (padded - real_tokens.sum()) / max(padded, 1)
    return (
        f"| {name} | {len(sizes)} | {np.mean(sizes):.1f} ({min(sizes)}–{max(sizes)}) | {real_tokens.mean():.0f} "
        f"(sd {real_tokens.std():.0f}, {real_tokens.min()}–{real_tokens.max()}) | {share:.1f}% |"
    )


def main() -> None:
    """Print the table for the overrides given (default: experiment=multi30k_transformer)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="plait train overrides (data_root=..., experiment=...)")
    parser.add_argument("--batch-size", type=int, default=64, help="the sentence-count batches to compare with")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048], help="trainer.max_tokens values")
    parser.add_argument("--seed", type=int, default=1, help="the epoch seed")
    args = parser.parse_args()
    overrides = args.overrides
    if not any(o.startswith("experiment=") for o in overrides):
        overrides = ["experiment=multi30k_transformer", *overrides]
    load_plugins()
    cfg = compose(overrides)
    task = TASKS.build(cfg.task)
    with tempfile.TemporaryDirectory() as tmp:
        spec = task.setup(training_tokenizers(cfg.tokenizer, Path(tmp), None))
    print(f"{' '.join(overrides)}: {task.num_examples('train')} training examples, epoch seed {args.seed}\n")
    print("| batching | batches / epoch | examples / batch (min–max) | real tokens / batch (sd, min–max) | padding |")
    print("|---|---|---|---|---|")
    print(
        row(
            f"batch_size={args.batch_size}",
            task.batches("train", batch_size=args.batch_size, epoch_seed=args.seed),
            spec.pad_id,
        )
    )
    for budget in args.budgets:
        batches = task.token_batches("train", max_tokens=budget, epoch_seed=args.seed)  # type: ignore[attr-defined]
        print(row(f"max_tokens={budget}", batches, spec.pad_id))


if __name__ == "__main__":
    main()
