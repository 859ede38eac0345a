"""Training throughput and model FLOPs utilisation of a GPT-2-124M-shaped decoder, per precision.

    python tools/bench/gpu_throughput.py                       # H200: bf16 and fp8, compile, fused AdamW, SDPA
    python tools/bench/gpu_throughput.py --tiny --device cpu   # seconds-long smoke test of the script itself

Shape: 12 layers, d_model 768, 12 heads, context 1024, vocabulary 50,304 (GPT-2 rounded up to a multiple
of 64), tied embedding/head, flash attention through F.scaled_dot_product_attention(is_causal=True).
Precision comes from Plait's own strategies (amp_bf16, fp8 via torchao), so this measures the path users
train with. The batch is the largest multiple of 8 that fits, found by the search `plait tune batch-size` uses
(framework/engine/batch_finder.py: powers of two, then a binary search; an out-of-memory error, caught by the
framework's `is_out_of_memory`, means "does not fit"), two eager steps per candidate; should the compiled
model still run out of memory at that batch, the batch is halved. MFU counts the training
FLOPs per token that Plait's model summary measures (FlopCounterMode on a meta copy; for this shape
6 * params + 12 * layers * d_model * context, PaLM appendix B, within 1%) against `--peak-tflops`
(H200 dense bf16: 989). Prints a markdown table; `--json` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a source checkout without install

from framework.engine.batch_finder import fits_in_memory, search_largest
from framework.engine.memory import is_out_of_memory
from framework.engine.model_summary import training_flops
from framework.errors import PlaitError
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from framework.precision import PrecisionStrategy
from framework.task import model_device


@dataclass(frozen=True)
class Shape:
    """Decoder size."""

    layers: int = 12
    width: int = 768
    heads: int = 12
    context: int = 1024
    vocab: int = 50304


GPT2 = Shape()
TINY = Shape(layers=2, width=64, heads=2, context=64, vocab=256)


class Block(nn.Module):
    """Pre-norm attention (SDPA, causal) + 4x GELU MLP."""

    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.heads = s.heads
        self.ln1, self.ln2 = nn.LayerNorm(s.width), nn.LayerNorm(s.width)
        self.qkv, self.proj = nn.Linear(s.width, 3 * s.width), nn.Linear(s.width, s.width)
        self.up, self.down = nn.Linear(s.width, 4 * s.width), nn.Linear(4 * s.width, s.width)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # flash attention on CUDA
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Token + learned position embeddings, blocks, final norm, head tied to the token embedding."""

    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(s.vocab, s.width), nn.Embedding(s.context, s.width)
        self.blocks = nn.ModuleList(Block(s) for _ in range(s.layers))
        self.norm = nn.LayerNorm(s.width)
        self.head = nn.Linear(s.width, s.vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids: Tensor) -> Tensor:
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def flops_per_token(model: nn.Module, s: Shape) -> float:
    """Training FLOPs per token, measured as every Plait run's model summary measures them
    (framework.engine.model_summary.training_flops: FlopCounterMode on a meta copy, one batch of one sequence).
    For this shape it is 6 * params (positions excluded) + attention's 12 * L * d * T, to within 1%."""
    ids = batch_of(1, s, torch.device("cpu"))

    def loss(m: nn.Module) -> Tensor:
        on = ids.to(model_device(m))
        logits = m(on[:, :-1])
        return F.cross_entropy(logits.float().view(-1, s.vocab), on[:, 1:].reshape(-1))

    flops, _ = training_flops(model, loss)
    return flops / s.context


@dataclass
class Row:
    """One measured precision."""

    precision: str
    batch: int
    tokens_per_s: float
    mfu: float
    step_ms: float
    peak_gb: float
    note: str = ""


class Run:
    """A model, optimizer and precision strategy for one batch size."""

    def __init__(self, precision: str, s: Shape, device: torch.device, compile_model: bool) -> None:
        torch.manual_seed(0)
        node = {"_name_": precision} | ({"compile": compile_model} if precision == "fp8" else {})
        self.strategy: PrecisionStrategy = PRECISIONS.build(node)
        self.model = self.strategy.setup(GPT(s), device)
        if compile_model and precision != "fp8":  # fp8 compiles in its own setup (after float8 conversion)
            self.model.compile()
        params = self.strategy.optimizer_target(self.model).parameters()
        self.opt = torch.optim.AdamW(params, lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
        self.s, self.device = s, device

    def step(self, ids: Tensor) -> None:
        with self.strategy.autocast():
            logits = self.model(ids[:, :-1])
            loss = F.cross_entropy(logits.float().view(-1, self.s.vocab), ids[:, 1:].reshape(-1))
        self.strategy.backward(loss)
        self.strategy.step(self.opt, 1.0)


def batch_of(batch: int, s: Shape, device: torch.device) -> Tensor:
    """Random token ids, one longer than the context (inputs and shifted targets)."""
    return torch.randint(0, s.vocab, (batch, s.context + 1), device=device)


def sync(device: torch.device) -> None:
    """Wait for the device (honest timing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fitting_batch(precision: str, s: Shape, device: torch.device, cap: int) -> int:
    """Largest multiple of 8 (at most `cap`; 1 when not even 8 fits) whose eager steps run without running out of
    memory, by the framework's batch-size search."""
    if device.type != "cuda":
        return min(cap, 8)

    def fits(eighths: int) -> bool:
        def two_steps() -> None:
            run = Run(precision, s, device, compile_model=False)
            run.step(batch_of(8 * eighths, s, device))
            run.step(batch_of(8 * eighths, s, device))  # optimizer state now exists
            sync(device)

        return fits_in_memory(two_steps, device)

    return 8 * search_largest(fits, cap=max(1, cap // 8)) or 1


def measure(precision: str, s: Shape, device: torch.device, args: argparse.Namespace) -> Row:
    """Warm up (compile), then time `args.steps` steps at the largest batch that fits."""
    batch = args.batch or fitting_batch(precision, s, device, args.max_batch)
    while True:
        try:
            run = Run(precision, s, device, compile_model=not args.no_compile)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(args.warmup):
                run.step(batch_of(batch, s, device))
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                run.step(batch_of(batch, s, device))
            sync(device)
            break
        except Exception as exc:
            if not is_out_of_memory(exc) or batch == 1:
                raise
            traceback.clear_frames(exc.__traceback__)  # free the failed step's tensors
            batch = max(1, batch // 2)
            run = None
            torch.cuda.empty_cache()
    seconds = (time.perf_counter() - t0) / args.steps
    tokens_per_s = batch * s.context / seconds
    mfu = tokens_per_s * flops_per_token(run.model, s) / (args.peak_tflops * 1e12)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return Row(precision, batch, tokens_per_s, mfu, 1e3 * seconds, peak)


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure each precision; print the table (and write JSON when asked)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precisions", default="amp_bf16,fp8")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer, 64-wide shape: a smoke test on CPU")
    ap.add_argument("--batch", type=int, default=0, help="fixed batch size (0: largest that fits)")
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps (the first one compiles)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H200/H100 SXM: 989)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    load_plugins()
    device = torch.device(args.device)
    s = TINY if args.tiny else GPT2
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device {torch.cuda.get_device_name(device)}, torch {torch.__version__}, shape {asdict(s)}")
    print(
        f"| precision | batch x {s.context} | tokens/s | MFU (of {args.peak_tflops:g} TFLOP/s) | ms/step | peak GiB | note |"
    )
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = []
    for precision in args.precisions.split(","):  # each row printed as soon as it is measured
        try:
            r = measure(precision, s, device, args)
        except PlaitError as exc:  # e.g. fp8 on a GPU without fp8 tensor cores, or torchao missing
            r = Row(precision, 0, math.nan, math.nan, math.nan, math.nan, str(exc).splitlines()[0])
        rows.append(r)
        print(
            f"| {r.precision} | {r.batch} | {r.tokens_per_s:,.0f} | {100 * r.mfu:.1f}% | {r.step_ms:.1f} "
            f"| {r.peak_gb:.1f} | {r.note} |",
            flush=True,
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return rows


if __name__ == "__main__":
    main()
