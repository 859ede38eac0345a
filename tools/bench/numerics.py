"""Benchmark: the fused numerics paths against the ones they replace, on real models' parameter shapes.

A benchmark, not a test. Two parts, each alternating its variants in rounds inside one process:

  finite   FiniteCheck (torch's fused foreach check; one instance reused, as the trainer does) vs the per-tensor
           isfinite loop it replaced, on each model's gradient shapes in fp32 and bf16: median ms per check, and
           the answers for the clean gradients and with a NaN, then an inf, in each tensor in turn, all through
           that one instance (they must be identical)
  kahan    precision=bf16 update=kahan: one AdamW step (Plait's param groups, fused) by torch-optimi vs by the
           built-in fp32 round trip, median ms per step (bf16 gradients refreshed before each, that cost
           measured alone and taken off); then --steps training steps of each from the same start, losses
           compared

  OMP_NUM_THREADS=1 python tools/bench/numerics.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from framework.engine.numerics import FiniteCheck
from framework.hardware import cpu_name
from framework.kinds import MODELS, PRECISIONS
from framework.plugins import load_plugins
from framework.task import LANGUAGE_MODELING, TaskSpec
from plugins.optimizers.torch_optim import param_groups

SIZES = {  # as tools/bench/overhead.py's tiny and small models, as transformer_decoder
    "tiny": {"d_model": 32, "n_layers": 1, "n_heads": 1, "d_ff": 128, "vocab": 256},
    "small": {"d_model": 256, "n_layers": 2, "n_heads": 8, "d_ff": 1024, "vocab": 8000},
}
Grads = list[torch.Tensor | None]


def looped(tensors: Grads) -> bool:
    """The check FiniteCheck replaced: one isfinite per tensor, one host sync."""
    flags = [torch.isfinite(t).all() for t in tensors if t is not None]
    return bool(torch.stack(flags).all()) if flags else True


def model(size: str) -> torch.nn.Module:
    """transformer_decoder at `size`, random init."""
    options = {k: v for k, v in SIZES[size].items() if k != "vocab"}
    spec = TaskSpec(kind=LANGUAGE_MODELING, vocab_size=SIZES[size]["vocab"], pad_id=0, max_length=64)
    torch.manual_seed(0)
    return MODELS.build(MODELS.config("transformer_decoder", max_length=64, dropout=0.0, **options), spec=spec)


def alternate(variants: dict[str, Callable[[], Any]], rounds: int, repeats: int) -> dict[str, float]:
    """Median ms per call of each variant, the variants alternating round by round."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()  # warm-up: first-call allocations and dispatch caches
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            for _ in range(repeats):
                run()
            times[name].append((time.perf_counter() - start) / repeats * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def same_answers(check: FiniteCheck, grads: Grads) -> bool:
    """`check` == the loop on `grads` as they are and with a NaN, then an inf, in each tensor in turn."""
    same = check(grads) == looped(grads) is True
    for t in grads:
        assert t is not None
        last = t.reshape(-1)[-1:]  # a view
        keep = last.clone()
        for bad in (float("nan"), float("inf")):
            last.fill_(bad)
            same &= check(grads) == looped(grads) is False
        last.copy_(keep)
        same &= check(grads) == looped(grads) is True  # the flag a bad value set was cleared
    return same


def finite(sizes: list[str], rounds: int) -> None:
    """FiniteCheck vs the loop on each model's gradient shapes (and a 0-d loss), fp32 and bf16."""
    print("\n| model | tensors | values | dtype | loop ms | fused ms | speed-up | identical answers |")
    print("|---|---:|---:|---|---:|---:|---:|---|")
    for size in sizes:
        shapes = [p.shape for p in model(size).parameters()]
        for dtype in (torch.float32, torch.bfloat16):
            g = torch.Generator().manual_seed(1)
            grads: Grads = [torch.tensor(1.5), *(torch.randn(s, generator=g).to(dtype) for s in shapes)]
            check = FiniteCheck()
            ms = alternate({"loop": partial(looped, grads), "fused": partial(check, grads)}, rounds, 20)
            values = sum(t.numel() for t in grads if t is not None)
            print(
                f"| {size} | {len(grads)} | {values / 1e6:.2f} M | {str(dtype)[6:]} | {ms['loop']:.3f} | "
                f"{ms['fused']:.3f} | {ms['loop'] / ms['fused']:.1f}x | {same_answers(check, grads)} |"
            )


def bf16_run(backend: str, size: str) -> tuple[Any, torch.nn.Module, torch.optim.Optimizer]:
    """Model `size` under precision=bf16 update=kahan with `backend`, and AdamW as Plait builds it (fused)."""
    strategy = PRECISIONS.build({"_name_": "bf16", "update": "kahan", "kahan_backend": backend})
    net = strategy.setup(model(size), torch.device("cpu"))
    return strategy, net, torch.optim.AdamW(param_groups(net, 0.01), lr=1e-3, fused=True)


def kahan(sizes: list[str], rounds: int, steps: int) -> None:
    """One bf16 Kahan AdamW step by optimi vs the built-in; then `steps` training steps of each, losses compared."""
    print("\n| model | weights | builtin ms/step | optimi ms/step | speed-up | final loss builtin / optimi | "
          f"largest loss difference over {steps} steps: absolute | relative |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for size in sizes:
        ms = step_times(size, rounds)
        losses = {backend: train(*bf16_run(backend, size), steps) for backend in ms}
        pairs = list(zip(losses["optimi"], losses["builtin"], strict=True))
        absolute, relative = max(abs(a - b) for a, b in pairs), max(abs(a - b) / abs(b) for a, b in pairs)
        weights = sum(p.numel() for p in model(size).parameters())
        print(
            f"| {size} | {weights / 1e6:.2f} M | {ms['builtin']:.2f} | {ms['optimi']:.2f} | "
            f"{ms['builtin'] / ms['optimi']:.2f}x | {losses['builtin'][-1]:.4f} / {losses['optimi'][-1]:.4f} "
            f"(from {losses['builtin'][0]:.2f}) | {absolute:.1e} | {relative:.1e} |"
        )


def step_times(size: str, rounds: int) -> dict[str, float]:
    """Median ms of one bf16 Kahan AdamW step per backend, alternating, from the same bf16 gradients."""
    runs = {backend: bf16_run(backend, size) for backend in ("builtin", "optimi")}
    g = torch.Generator().manual_seed(2)
    grads = [torch.randn(p.shape, generator=g).to(p.dtype) * 1e-2 for p in runs["builtin"][1].parameters()]

    def refresh(net: torch.nn.Module) -> None:
        for p, grad in zip(net.parameters(), grads, strict=True):
            p.grad = grad.clone()  # as backward leaves them: the built-in widens them, optimi writes into them

    def step(backend: str) -> Callable[[], None]:
        strategy, net, opt = runs[backend]
        return lambda: (refresh(net), strategy.update(opt))

    variants = {**{b: step(b) for b in runs}, "refresh": partial(refresh, runs["builtin"][1])}
    ms = alternate(variants, rounds, 5)  # its warm-up creates the state and chooses the backend
    return {b: ms[b] - ms["refresh"] for b in runs}


def train(strategy: Any, net: torch.nn.Module, opt: torch.optim.Optimizer, steps: int) -> list[float]:
    """Next-token loss on a repeating pattern (learnable), clipped at 1.0 as Plait's default."""
    vocab = net.head.weight.shape[0]
    g = torch.Generator().manual_seed(3)
    data = (torch.randint(0, 64, (64, 1), generator=g) + torch.arange(33)) % min(64, vocab - 1) + 1
    losses = []
    for i in range(steps):
        batch = data[torch.arange(16) + 16 * (i % 4)]
        logits = net(batch[:, :-1], None).float()
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        strategy.backward(loss)
        strategy.step(opt, 1.0)
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--only", choices=["finite", "kahan"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_plugins()
    print(f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, rounds {args.rounds}")
    if args.only != "kahan":
        finite(args.sizes, args.rounds)
    if args.only != "finite":
        kahan(args.sizes, args.rounds, args.steps)


if __name__ == "__main__":
    main()
