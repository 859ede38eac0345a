"""Benchmark: `model.dropout_kernel=auto` against torch's dropout on the CPU, on `multi30k_transformer`'s shapes.

A benchmark, not a test. Forward + backward (a fixed upstream gradient), median ms of alternating rounds, one
process:

  dropout     torch's `F.dropout` (bernoulli_) vs `plugins/models/dropout.py` (16 random bits per value), on the
              feed-forward (B, T, 1024), residual (B, T, 256) and attention-weight (B, H, T, T) shapes
  attention   SDPA's math kernel with torch's dropout (what training with attention dropout ran on the CPU) vs
              `math_attention` (products in the inputs' dtype, dropout on random bits), with a padding mask and
              causal

  OMP_NUM_THREADS=1 python tools/bench/dropout.py --rounds 7
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

from framework.hardware import cpu_name
from plugins.models.configs import AttentionKernel, DropoutKernel
from plugins.models.dropout import dropout
from plugins.models.transformer_blocks import attend

sys.path.insert(0, str(Path(__file__).parent))
from numerics import alternate  # noqa: E402  (the numerics bench's alternating median timer)

B, H, T, D, D_FF = 64, 8, 30, 256, 1024  # multi30k_transformer: batch 64, ~30 tokens, width 256, 8 heads
P = 0.1


def dropout_step(x: torch.Tensor, grad: torch.Tensor, kernel: DropoutKernel) -> None:
    """One dropout forward + backward on `kernel`."""
    dropout(x, P, training=True, kernel=kernel).backward(grad)


def attention_step(
    qkv: list[torch.Tensor],
    grad: torch.Tensor,
    mask: torch.Tensor | None,
    kernels: tuple[AttentionKernel, DropoutKernel],
) -> None:
    """One attention forward + backward (causal when `mask` is None) on the kernels given."""
    kernel, dropout_kernel = kernels
    out = attend(
        *qkv, kernel=kernel, dropout_kernel=dropout_kernel, attn_mask=mask, dropout_p=P, is_causal=mask is None
    )
    out.backward(grad)


def dropout_rows(rounds: int, repeats: int) -> None:
    """torch's dropout vs the bits kernel, forward + backward, per shape and dtype."""
    print("\n| shape | dtype | torch ms | bits ms | speed-up |\n|---|---|---:|---:|---:|")
    for shape in [(B, T, D_FF), (B, T, D), (B, H, T, T)]:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(shape, dtype=dtype, requires_grad=True)
            grad = torch.randn(shape, dtype=dtype)
            kernels = (DropoutKernel.torch, DropoutKernel.auto)
            ms = alternate({k.value: partial(dropout_step, x, grad, k) for k in kernels}, rounds, repeats)
            print(
                f"| {shape} | {str(dtype)[6:]} | {ms['torch']:.2f} | {ms['auto']:.2f} | {ms['torch'] / ms['auto']:.2f}x |"
            )


def attention_rows(rounds: int, repeats: int) -> None:
    """SDPA's math kernel with torch's dropout vs `math_attention`, forward + backward, padding mask and causal."""
    print(
        "\n| attention | dtype | SDPA math + torch dropout ms | math_attention ms | speed-up |\n|---|---|---:|---:|---:|"
    )
    keep = torch.ones(B, 1, 1, T, dtype=torch.bool)
    keep[::3, ..., 20:] = False  # a third of the sequences padded
    for name, mask in (("padding mask", keep), ("causal", None)):
        for dtype in (torch.float32, torch.bfloat16):
            qkv = [torch.randn(B, H, T, D // H, dtype=dtype, requires_grad=True) for _ in range(3)]
            grad = torch.randn(B, H, T, D // H, dtype=dtype)
            variants = {
                "sdpa": partial(attention_step, qkv, grad, mask, (AttentionKernel.math, DropoutKernel.torch)),
                "ours": partial(attention_step, qkv, grad, mask, (AttentionKernel.auto, DropoutKernel.auto)),
            }
            ms = alternate(variants, rounds, repeats)
            print(
                f"| {name} | {str(dtype)[6:]} | {ms['sdpa']:.2f} | {ms['ours']:.2f} | {ms['sdpa'] / ms['ours']:.2f}x |"
            )


def main(argv: list[str] | None = None) -> None:
    """Both tables, with the machine named."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=10, help="calls per variant in a round")
    args = parser.parse_args(argv)
    print(f"{cpu_name()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}, rounds {args.rounds}")
    dropout_rows(args.rounds, args.repeats)
    attention_rows(args.rounds, args.repeats)


if __name__ == "__main__":
    main()
