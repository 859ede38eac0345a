"""The fast path, each piece measured on and off: optimizer kernels, torch.compile, batches prefetched ahead.

    OMP_NUM_THREADS=1 python tools/bench/fast_path.py [--sections optimizer,compile,main] [--rounds 3]

- optimizer: one AdamW step over the parameters of a tiny and a small Transformer (tools/bench/overhead.py
  sizes), torch's CPU default (a loop over tensors) against `foreach` (what plugins/optimizers picks on CPU)
  and `fused`; the variants alternate in blocks inside this process, medians of the blocks.
- compile: forward + backward + AdamW step of the same Transformers, eager against `nn.Module.compile()`
  (inductor), alternating blocks after warm-up; the first compiled step's time is the compile cost.
- main: the main job (`plait train trainer.max_steps=300 logger=[jsonl]`) as subprocesses, variants in turn
  for `--rounds` rounds; tokens/s and `sys/data_wait_share` are medians over the logged rows after step 50.
Prints markdown tables. Timing is noisy on a shared machine: compare ratios within one table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from overhead import SIZES, VOCAB, TinyLM, lm_loss  # noqa: E402

from plugins.optimizers.torch_optim import param_groups  # noqa: E402

BLOCK = 10  # steps per timed block
MAIN_VARIANTS = {  # name: overrides
    "inline data (prefetch_batches=0, the CPU default)": ["trainer.prefetch_batches=0"],
    "prefetch_batches=2 (the CUDA default)": ["trainer.prefetch_batches=2"],
    "compile=true (inline data)": ["trainer.prefetch_batches=0", "trainer.compile=true"],
}


def alternate(runs: dict[str, Callable[[], None]], blocks: int, warm: int = 2) -> dict[str, float]:
    """Median ms per call of each function, timed in alternating blocks of BLOCK calls (first `warm` dropped)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for b in range(blocks + warm):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(BLOCK):
                run()
            if b >= warm:
                times[name].append((time.perf_counter() - start) / BLOCK * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def model_and_batch(size: str) -> tuple[TinyLM, torch.Tensor]:
    layers, width, batch, length = SIZES[size]
    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (batch, length + 1))
    return TinyLM(layers, width, length), ids


def bench_optimizer(blocks: int) -> None:
    """AdamW step time: for-loop (torch's CPU default) vs foreach vs fused."""
    print("\n| model | tensors | for-loop ms/step | foreach ms/step | fused ms/step | foreach speed-up |")
    print("|---|---|---|---|---|---|")
    for size in SIZES:
        steps = {}
        for kind, options in (("loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
            model, ids = model_and_batch(size)
            lm_loss(model, ids).backward()  # gradients to step with (kept: the step time is what is measured)
            opt = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3, **options)
            steps[kind] = opt.step
        n = sum(1 for _ in model.parameters())
        ms = alternate(steps, blocks)
        print(
            f"| {size} | {n} | {ms['loop']:.3f} | {ms['foreach']:.3f} | {ms['fused']:.3f} | "
            f"{ms['loop'] / ms['foreach']:.2f}x |",
            flush=True,
        )


def bench_compile(blocks: int) -> None:
    """A full training step, eager vs compiled (same weights, same batch)."""
    print("\n| model | eager ms/step | compiled ms/step | speed-up | first compiled step s |")
    print("|---|---|---|---|---|")
    for size in SIZES:
        steps = {}
        first = 0.0
        for kind in ("eager", "compiled"):
            model, ids = model_and_batch(size)
            opt = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3, foreach=True)
            if kind == "compiled":
                model.compile()

            def step(model: TinyLM = model, opt: torch.optim.Optimizer = opt, ids: torch.Tensor = ids) -> None:
                lm_loss(model, ids).backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            if kind == "compiled":
                start = time.perf_counter()
                step()
                first = time.perf_counter() - start
            steps[kind] = step
        ms = alternate(steps, blocks)
        speed_up = ms["eager"] / ms["compiled"]
        print(f"| {size} | {ms['eager']:.2f} | {ms['compiled']:.2f} | {speed_up:.2f}x | {first:.1f} |", flush=True)


def main_job(overrides: list[str], steps: int) -> tuple[float, float, float]:
    """One main-job run: (tokens/s median after step 50, data-wait share median, wall seconds)."""
    plait = Path(sys.executable).with_name("plait")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [str(plait), "train", f"trainer.max_steps={steps}", "logger=[jsonl]", f"hydra.run.dir={tmp}", *overrides],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        wall = time.perf_counter() - start
        rows = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train/tokens_per_s" in r and r["step"] > 50]
    return (
        statistics.median(r["train/tokens_per_s"] for r in rows),
        statistics.median(r["sys/data_wait_share"] for r in rows),
        wall,
    )


def bench_main(rounds: int, steps: int, only: str) -> None:
    """The main job under each variant (the first is the baseline), variants in turn for `rounds` rounds."""
    names = [n for i, n in enumerate(MAIN_VARIANTS) if i == 0 or only in n]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            results[name].append(main_job(MAIN_VARIANTS[name], steps))
    base = statistics.median(r[0] for r in results[names[0]])
    print(f"\n| main job, {steps} steps | tokens/s | vs inline | sys/data_wait_share | wall s (all runs) |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        tps = statistics.median(r[0] for r in runs)
        share = statistics.median(r[1] for r in runs)
        walls = ", ".join(f"{r[2]:.0f}" for r in runs)
        print(f"| {name} | {tps:,.0f} | {tps / base:.2f}x | {share:.3f} | {walls} |", flush=True)


def main() -> None:
    """Run the chosen sections; print markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="optimizer,compile,main")
    ap.add_argument("--blocks", type=int, default=20, help="timed blocks of 10 steps per variant")
    ap.add_argument("--rounds", type=int, default=3, help="main-job runs per variant")
    ap.add_argument("--steps", type=int, default=300, help="main-job steps")
    ap.add_argument("--main-variants", default="", help="only main-job variants whose name contains this")
    args = ap.parse_args()
    sections = args.sections.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); medians")
    if "optimizer" in sections:
        bench_optimizer(args.blocks)
    if "compile" in sections:
        bench_compile(args.blocks)
    if "main" in sections:
        bench_main(args.rounds, args.steps, args.main_variants)


if __name__ == "__main__":
    main()
