"""`plait generate <run> prompt=... max_new_tokens=... temperature=... top_k=... top_p=... seed=... beam_size=...`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework.cli.commands._common import CommonOptions, open_run, parse_args

HELP = "sample text from a trained language model: plait generate <run> prompt=... max_new_tokens=200 seed=0"
USAGE = (
    "plait generate <run dir or checkpoint> [prompt=...] [max_new_tokens=N] [temperature=T] "
    "[top_k=K] [top_p=P] [seed=S] [samples=N] [beam_size=K] [device=cpu] [checkpoint=best|last|<dir>] [weights=ema]"
)


@dataclass
class GenerateOptions(CommonOptions):
    """Options of `plait generate`."""

    prompt: str = "\n"  # text to continue
    max_new_tokens: int = 200  # tokens to sample
    temperature: float = 0.8  # softmax temperature; 0: greedy
    top_k: Optional[int] = None  # sample among the k most likely tokens; null: all
    top_p: Optional[float] = None  # nucleus sampling: the smallest set reaching this probability; null: off
    seed: int = 0  # the same seed gives the same text
    samples: int = 1  # continuations to print (seeds seed, seed + 1, ...)
    beam_size: int = 1  # above 1: the most likely continuation by beam search (sampling options unused)


def main(argv: list[str]) -> None:
    """Print the prompt with its sampled continuation(s)."""
    from framework.engine.inference import infer, task_as
    from framework.task import TextGenerator

    run, opts, overrides = parse_args(argv, GenerateOptions, USAGE)
    built = open_run(run, opts, overrides)
    task: TextGenerator = task_as(built, TextGenerator, "generate", "language modelling")
    for i in range(opts.samples):
        if opts.samples > 1:
            print(f"--- sample {i + 1} (seed {opts.seed + i})")
        print(
            infer(
                built,
                task.generate,
                opts.prompt,
                max_new_tokens=opts.max_new_tokens,
                temperature=opts.temperature,
                top_k=opts.top_k,
                top_p=opts.top_p,
                seed=opts.seed + i,
                **({"beam_size": opts.beam_size} if opts.beam_size != 1 else {}),  # a task may not know beams
            )
        )
