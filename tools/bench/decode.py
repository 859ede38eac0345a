"""Benchmark: decoding with and without the key/value cache, per generating model and decoding mode.

A benchmark, not a test. Every model is built at random init from the same small sizes (random weights rarely
emit EOS, so every hypothesis runs to its length limit: the uncached path's worst case, equal work for both).
Seq2seq models decode --sentences random sources into --target-tokens with beam_search (greedy = beam 1);
language models continue --prompts random prompts by --new-tokens with generate_ids (greedy, sampled with a
seed, beam). Both paths run in one process
on the same inputs, alternating in rounds; the table gives median generated tokens/s and whether the outputs
are identical.

  OMP_NUM_THREADS=1 python tools/bench/decode.py --rounds 3
  python tools/bench/decode.py --models hf_seq2seq hf_causal_lm --modes beam4
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from framework.hardware import cpu_name
from framework.kinds import MODELS
from framework.plugins import load_plugins
from framework.task import LANGUAGE_MODELING, SEQ2SEQ, TaskSpec
from plugins.tasks.batching import pad
from plugins.tasks.beam_search import beam_search
from plugins.tasks.generation import generate_ids

SIZES = {"d_model": 256, "n_layers": 2, "n_heads": 4, "d_ff": 1024, "dropout": 0.0}
VOCAB, PAD, BOS, EOS = 8000, 0, 2, 3
MODELS_BY_KIND = {
    SEQ2SEQ: ["hf_seq2seq", "transformer_seq2seq"],
    LANGUAGE_MODELING: ["hf_causal_lm", "transformer_decoder", "lstm"],
}
MODES = {  # name: (beam size, sampling options)
    "greedy": (1, {"temperature": 0.0}),
    "sample": (1, {"temperature": 1.0, "top_k": 50, "seed": 0}),
    "beam4": (4, {}),
}
Outputs = list[list[int]]


def build(key: str, kind: str, context: int) -> nn.Module:
    """Model `key` at the bench sizes for `kind`, random init, eval mode."""
    spec = TaskSpec(kind=kind, vocab_size=VOCAB, pad_id=PAD, max_length=context, extra={"bos_id": BOS, "eos_id": EOS})
    options = {**SIZES, "max_length": context} if key != "lstm" else {"d_model": 256, "n_layers": 2, "dropout": 0.0}
    torch.manual_seed(0)
    return MODELS.build(MODELS.config(key, **options), spec=spec).eval()


def random_ids(n: int, low: int, high: int, seed: int) -> list[list[int]]:
    """`n` random id sequences of `low`..`high` tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (n,), generator=g).tolist()
    return [torch.randint(7, VOCAB, (length,), generator=g).tolist() for length in lengths]


def seq2seq_run(
    model: nn.Module, sources: list[list[int]], mode: str, args: argparse.Namespace
) -> Callable[[bool], Outputs]:
    """Decoding all sources in batches of --batch-size, with or without the cache."""
    ids, mask = pad(sources, PAD)
    beam = MODES[mode][0]

    def decode(use_cache: bool) -> Outputs:
        out: Outputs = []
        for b in range(0, len(ids), args.batch_size):
            rows = slice(b, b + args.batch_size)
            out += beam_search(model, ids[rows], mask[rows], bos_id=BOS, eos_id=EOS, beam_size=beam,
                               max_new_tokens=args.target_tokens, use_cache=use_cache)  # fmt: skip
        return out

    return decode


def lm_run(
    model: nn.Module, prompts: list[list[int]], mode: str, args: argparse.Namespace
) -> Callable[[bool], Outputs]:
    """Continuing each prompt, with or without the cache."""
    beam, sampling = MODES[mode]
    context = args.prompt_tokens + args.new_tokens

    def generate(use_cache: bool) -> Outputs:
        return [
            generate_ids(model, p, max_new_tokens=args.new_tokens, context=context, beam_size=beam,
                         use_cache=use_cache, **sampling)[len(p) :]
            for p in prompts
        ]  # fmt: skip

    return generate


def measure(run: Callable[[bool], Outputs], rounds: int) -> tuple[dict[bool, float], Outputs, Outputs]:
    """Median seconds with and without the cache (alternating, uncached first each round) and both outputs."""
    times: dict[bool, list[float]] = {False: [], True: []}
    outputs: dict[bool, Outputs] = {}
    for _ in range(rounds):
        for use_cache in (False, True):
            start = time.perf_counter()
            outputs[use_cache] = run(use_cache)
            times[use_cache].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}, outputs[False], outputs[True]


def main(argv: list[str] | None = None) -> None:
    """Print one table row per model and mode: tokens/s without and with the cache, the ratio, identical or not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[m for ms in MODELS_BY_KIND.values() for m in ms])
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--sentences", type=int, default=8, help="seq2seq sources")
    parser.add_argument("--prompts", type=int, default=2, help="language-model prompts")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--target-tokens", type=int, default=48, help="seq2seq: a sentence's length")
    parser.add_argument("--new-tokens", type=int, default=128, help="language models (plait generate: 200)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_plugins()
    print(f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, rounds {args.rounds}")
    print("| model | mode | tokens | uncached tok/s | cached tok/s | speed-up | identical |")
    print("|---|---|---:|---:|---:|---:|---|")
    for kind, keys in MODELS_BY_KIND.items():
        for key in [k for k in keys if k in args.models]:
            seq2seq = kind == SEQ2SEQ
            model = build(key, kind, args.prompt_tokens + max(args.new_tokens, args.target_tokens))
            for mode in [m for m in args.modes if not (seq2seq and m == "sample")]:  # seq2seq decodes by beam
                if seq2seq:
                    run = seq2seq_run(model, random_ids(args.sentences, 8, 20, 1), mode, args)
                else:
                    run = lm_run(model, random_ids(args.prompts, args.prompt_tokens, args.prompt_tokens, 2), mode, args)
                seconds, plain, cached = measure(run, args.rounds)
                tokens = sum(len(o) for o in cached)
                slow, fast = tokens / seconds[False], tokens / seconds[True]
                print(
                    f"| {key} | {mode} | {tokens} | {slow:.0f} | {fast:.0f} | {fast / slow:.1f}x | {plain == cached} |"
                )


if __name__ == "__main__":
    main()
