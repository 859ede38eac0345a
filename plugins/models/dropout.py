"""Dropout whose keep-mask is cut from 16 random bits per value: on the CPU, 2x faster than torch's dropout.

torch's CPU dropout draws its mask with `bernoulli_`, one double from the generator per value, then divides the
mask and multiplies: in a bf16 Transformer's training step on CPU that was the largest single cost (23% of the
CPU time of `multi30k_transformer`, more than its matmuls; docs/performance.md). Here one 64-bit draw gives four
values' masks: a value is dropped when its 16 bits fall under round(p * 65536), so the drop probability is p
within 2^-17 (0.100006 for 0.1), and kept values are scaled by the exact 1 / (1 - that probability): the output's
expectation is the input, as with torch's. The draws come from torch's default generator, so `torch.manual_seed`,
activation checkpointing and the trainer's replay of a step (both restore the RNG state) see the same masks.
Elsewhere (CUDA's fused dropout is already one kernel), under `torch.compile` and with
`model.dropout_kernel=torch`, torch's dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from plugins.models.configs import DropoutKernel

LEVELS = 1 << 16  # 16 random bits decide each value
_INT64_RANGE = (-(1 << 63), (1 << 63) - 1)  # random_'s full-width 64-bit draw (its default skips the sign bit)


def keep_noise(x: Tensor, p: float) -> Tensor:
    """A tensor shaped like `x`, in its dtype: 0 where a value drops (probability round(p * 65536) / 65536), the
    exact inverse of the keep probability elsewhere. Needs 0 < round(p * 65536) < 65536 (see `fast_dropout_ok`)."""
    dropped_levels = round(p * LEVELS)
    n = x.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(*_INT64_RANGE)
    bits = draws.view(torch.int16)[:n].view(x.shape)  # four uniform 16-bit values per draw, in -32768 ... 32767
    keep = bits >= dropped_levels - LEVELS // 2
    # bool -> x.dtype is a slow elementwise cast on the CPU; the same bytes read as uint8 times a 0-dim tensor of
    # x's dtype cast and scale in one vectorised pass (0.54 against 1.40 ms for a bf16 (64, 16, 1024))
    scale = torch.tensor(LEVELS / (LEVELS - dropped_levels), dtype=x.dtype, device=x.device)
    return keep.view(torch.uint8) * scale


def fast_dropout_ok(x: Tensor, p: float, kernel: DropoutKernel) -> bool:
    """Whether `dropout` cuts the mask from random bits: `auto` on the CPU, for a p that 16 bits can express, and
    not inside `torch.compile` (inductor fuses torch's dropout into its own generated kernels)."""
    return (
        kernel == DropoutKernel.auto
        and x.device.type == "cpu"
        and 0 < round(p * LEVELS) < LEVELS
        and not torch.compiler.is_compiling()
    )


def dropout(x: Tensor, p: float, *, training: bool, kernel: DropoutKernel = DropoutKernel.auto) -> Tensor:
    """Inverted dropout of `x` with probability `p` while training (identity otherwise), on the kernel asked for.

    The noise does not require grad, so autograd's multiply saves it (in x's dtype, as torch's dropout saves its
    mask) and the backward is one multiply by it."""
    if not training or p == 0:
        return x
    if fast_dropout_ok(x, p, kernel):
        return x * keep_noise(x, p)
    return F.dropout(x, p, training=True)


class Dropout(nn.Module):
    """`nn.Dropout` on `dropout`'s kernel choice (`model.dropout_kernel`)."""

    def __init__(self, p: float, kernel: DropoutKernel = DropoutKernel.auto) -> None:
        super().__init__()
        self.p, self.kernel = p, DropoutKernel(kernel)

    def forward(self, x: Tensor) -> Tensor:
        """x with values dropped (training) or unchanged (eval)."""
        return dropout(x, self.p, training=self.training, kernel=self.kernel)

    def extra_repr(self) -> str:
        """Shown in the model's printout."""
        return f"p={self.p}, kernel={self.kernel.value}"
