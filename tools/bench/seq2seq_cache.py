"""Benchmark: beam search / greedy decoding of transformer_seq2seq with and without the incremental cache.

A benchmark, not a test. With `--run <trained multi30k_transformer run> --source-file <de sentences>` it decodes
real sentences with the trained model; without, it builds the multi30k_transformer model size at random init
(which rarely emits EOS, so every hypothesis runs to --max-new-tokens: the worst case for the uncached path).
Both paths run in one process on the same inputs, alternating, and must give identical outputs.

  OMP_NUM_THREADS=1 python tools/bench/seq2seq_cache.py --beam-size 5 --sentences 32
  python tools/bench/seq2seq_cache.py --run outputs/<run> --source-file ../shared/data/multi30k/test_2016_flickr.de
"""

from __future__ import annotations

import argparse
import time

import torch

from framework.kinds import MODELS
from framework.plugins import load_plugins
from framework.task import SEQ2SEQ, TaskSpec
from plugins.tasks.batching import pad
from plugins.tasks.beam_search import beam_search

MULTI30K = {"d_model": 256, "n_layers": 3, "n_heads": 8, "d_ff": 1024, "positional": "rope", "max_length": 64}


def random_setup(n: int, seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, int, int]:
    """The multi30k_transformer model size at random init and `n` random sources of 8..20 tokens."""
    spec = TaskSpec(kind=SEQ2SEQ, vocab_size=8000, pad_id=0, max_length=64, extra={"bos_id": 2, "eos_id": 3})
    torch.manual_seed(seed)
    model = MODELS.build(MODELS.config("transformer_seq2seq", **MULTI30K), spec=spec).eval()
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(7, 8000, (int(torch.randint(8, 21, (1,), generator=g)),), generator=g) for _ in range(n)]
    ids, mask = pad([s.tolist() for s in seqs], 0)
    return model, ids, mask, 2, 3


def run_setup(path: str, source_file: str, n: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, int, int]:
    """A trained translation run's model and the first `n` lines of `source_file`, encoded by its tokenizer."""
    from framework.engine.inference import load_run

    built = load_run(path, device="cpu")
    with open(source_file, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()][:n]
    ids, mask = pad(built.task.src_tok.encode_batch(lines), built.spec.pad_id, max_length=built.spec.max_length)
    return built.model, ids, mask, int(built.spec.extra["bos_id"]), int(built.spec.extra["eos_id"])


def main() -> None:
    """Time cached vs uncached decoding, alternating repeats, and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained transformer_seq2seq translation run (else random init)")
    parser.add_argument("--source-file", help="source sentences, one per line (with --run)")
    parser.add_argument("--sentences", type=int, default=32)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    load_plugins()
    if args.run:
        model, ids, mask, bos, eos = run_setup(args.run, args.source_file, args.sentences)
    else:
        model, ids, mask, bos, eos = random_setup(args.sentences, 0)
    options = {"bos_id": bos, "eos_id": eos, "beam_size": args.beam_size, "max_new_tokens": args.max_new_tokens}
    times: dict[bool, list[float]] = {True: [], False: []}
    outputs: dict[bool, list[list[int]]] = {}
    for _ in range(args.repeats):
        for use_cache in (False, True):
            start, out = time.perf_counter(), []
            for b in range(0, len(ids), args.batch_size):
                out += beam_search(model, ids[b : b + args.batch_size], mask[b : b + args.batch_size],
                                   use_cache=use_cache, **options)  # fmt: skip
            times[use_cache].append(time.perf_counter() - start)
            outputs[use_cache] = out
    same = outputs[True] == outputs[False]
    tokens = sum(len(o) for o in outputs[True])
    plain, cached = min(times[False]), min(times[True])
    print(f"threads {torch.get_num_threads()}  sentences {len(ids)}  beam {args.beam_size}  output tokens {tokens}")
    print(
        f"uncached {plain:.2f} s   cached {cached:.2f} s   speed-up {plain / cached:.2f}x   identical outputs: {same}"
    )


if __name__ == "__main__":
    main()
