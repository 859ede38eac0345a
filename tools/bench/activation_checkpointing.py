"""Benchmark: memory and step time of a 6-layer transformer_decoder, plain vs `model.activation_checkpointing`.

A benchmark, not a test. Each variant trains in its own subprocess (so one's memory never counts for the other):
the model and AdamW are built, one warm-up step runs, then --steps timed steps (forward, backward, optimizer).
Memory is the child's peak resident set (getrusage ru_maxrss), reported whole and above the resident set measured
just before the first step (model, optimizer state, Python and torch: the same for both variants). Variants
alternate over --repeats rounds; the median step time (wall clock, and CPU time of the process, which other load on
a shared machine disturbs less) and the largest peak of each are reported, with the loss of the first step (the
same model, data and seed: they must match).

  OMP_NUM_THREADS=2 python tools/bench/activation_checkpointing.py                  # d_model 256, 8 x 1024 tokens
  OMP_NUM_THREADS=2 python tools/bench/activation_checkpointing.py --batch-size 4 --context 512 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def rss_mib() -> float:
    """The current resident set of this process, in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def child(args: argparse.Namespace) -> None:
    """Train one variant and print a JSON line: baseline and peak resident set, step times, first loss."""
    import torch.nn.functional as F

    from framework.kinds import MODELS
    from framework.plugins import load_plugins
    from framework.task import LANGUAGE_MODELING, TaskSpec

    load_plugins()
    torch.manual_seed(0)
    spec = TaskSpec(kind=LANGUAGE_MODELING, vocab_size=args.vocab, pad_id=0, max_length=args.context)
    sizes = {"d_model": args.d_model, "n_layers": args.layers, "n_heads": args.heads, "d_ff": 4 * args.d_model}
    cfg = MODELS.config(
        "transformer_decoder", **sizes, max_length=args.context, activation_checkpointing=args.variant == "checkpointed"
    )
    model = MODELS.build(cfg, spec=spec).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = torch.randint(
        1, args.vocab, (args.steps + 1, args.batch_size, args.context + 1), generator=torch.Generator().manual_seed(1)
    )

    def step(ids: torch.Tensor) -> float:
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    for p in model.parameters():  # optimizer state exists before the baseline is read
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    baseline = rss_mib()
    first = step(data[0])
    times, cpu = [], []
    for ids in data[1:]:
        start, start_cpu = time.perf_counter(), time.process_time()
        step(ids)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "step_s": times, "cpu_s": cpu, "first_loss": first}))


def main() -> None:
    """Run the variants in alternating subprocesses and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variant", choices=["plain", "checkpointed"], help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    runs: dict[str, list[dict]] = {"plain": [], "checkpointed": []}
    for _ in range(args.repeats):
        for variant in runs:
            out = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--variant", variant],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"transformer_decoder {args.layers} layers, d_model {args.d_model}, d_ff {4 * args.d_model}, vocab {args.vocab}, "
        f"batch {args.batch_size} x {args.context} tokens, fp32 AdamW, threads {torch.get_num_threads()}, "
        f"{args.steps} timed steps x {args.repeats} rounds per variant"
    )
    summary = {}
    for variant, results in runs.items():
        peak = max(r["peak_mib"] for r in results)
        above = max(r["peak_mib"] - r["baseline_mib"] for r in results)
        step_s = statistics.median(t for r in results for t in r["step_s"])
        cpu_s = statistics.median(t for r in results for t in r["cpu_s"])
        summary[variant] = (peak, above, step_s, cpu_s)
        print(f"  {variant:<13} peak RSS {peak:8.0f} MiB  above baseline {above:8.0f} MiB  step {step_s:6.2f} s wall"
              f" {cpu_s:6.2f} s CPU  first loss {results[0]['first_loss']:.6f}")  # fmt: skip
    (p_peak, p_above, p_step, p_cpu), (c_peak, c_above, c_step, c_cpu) = summary["plain"], summary["checkpointed"]
    print(f"  checkpointed/plain: peak RSS {c_peak / p_peak:.2f} ({1 - c_peak / p_peak:.0%} lower), "
          f"above baseline {c_above / p_above:.2f} ({1 - c_above / p_above:.0%} lower), "
          f"step time {c_step / p_step:.2f}x wall, {c_cpu / p_cpu:.2f}x CPU")  # fmt: skip


if __name__ == "__main__":
    main()
