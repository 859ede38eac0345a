"""torch-optimi's foreach Kahan-summation Adam/AdamW step, a fast path for `precision=bf16 update=kahan`.

The built-in Kahan update widens every weight, gradient and moment to fp32 around `optimizer.step()`; optimi
updates the bf16 tensors in place with multi-tensor kernels, carrying the rounding error in the same
compensation buffers. Only plain torch.optim.Adam / AdamW take this path (`precision.kahan_backend`); the
optimizer's hyperparameters, learning rate schedule and state dict stay torch's. On CPU, where torch's foreach
ops are per-tensor loops, it measured no faster than the built-in riding on torch's fused AdamW kernel
(tools/bench/numerics.py), so `auto` takes it on CUDA only.

Moments: optimi keeps Adam's moving averages debiased (m / (1 - beta1^t), v / (1 - beta2^t)) where torch keeps
them biased. `set_moments` converts an optimizer's state between the two when the backend changes (a resumed
run on a machine without optimi), so either backend continues the other's run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from framework import PlaitError, params_of
from plugins.precision.configs import KahanBackend

BIASED, DEBIASED = "biased", "debiased"  # torch's moments, optimi's


def optimi_adam() -> Any:
    """optimi's functional Adam step, or an error naming the extra to install."""
    try:
        from optimi import adam
    except ImportError:
        raise PlaitError(
            "precision.kahan_backend=optimi needs torch-optimi: pip install 'plait[optimi]' "
            "(or set precision.kahan_backend=builtin)"
        ) from None
    return adam


def optimi_unsupported(optimizer: torch.optim.Optimizer) -> str | None:
    """Why optimi cannot step `optimizer` in its place, or None when it can."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return f"optimi's fast path steps torch.optim.Adam/AdamW only, not {type(optimizer).__name__}"
    for group in optimizer.param_groups:
        used = [flag for flag in ("amsgrad", "maximize", "differentiable") if group.get(flag)]
        if used:
            return f"optimi's Adam has no {'/'.join(used)}"
    return None


def builtin_reason(backend: str, optimizer: torch.optim.Optimizer) -> str | None:
    """Why the kahan update of `optimizer` runs built-in, or None when optimi runs it; an error where `backend`
    is `optimi` and optimi cannot."""
    if backend == KahanBackend.builtin:
        return "precision.kahan_backend=builtin"
    why = optimi_unsupported(optimizer)
    if why is None and backend == KahanBackend.auto:
        if not on_cuda(optimizer):
            return "on CPU optimi's foreach step is no faster than the built-in's fused AdamW (docs/performance.md)"
        try:
            optimi_adam()
        except PlaitError:
            why = "torch-optimi is not installed: pip install 'plait[optimi]'"
    if why is not None and backend == KahanBackend.optimi:
        raise PlaitError(f"precision.kahan_backend=optimi: {why}; use kahan_backend=builtin or auto")
    return why


def on_cuda(optimizer: torch.optim.Optimizer) -> bool:
    """Whether every parameter of `optimizer` is on a CUDA device."""
    return all(p.is_cuda for p in params_of(optimizer))


def _step_tensor(group: dict[str, Any], p: Tensor) -> Tensor:
    """torch's own form of a fresh `step` entry (on the parameter's device for fused/capturable optimizers)."""
    on_device = group.get("fused") or group.get("capturable")
    return torch.zeros((), dtype=torch.float32, device=p.device if on_device else "cpu")


@torch.no_grad()
def optimi_step(optimizer: torch.optim.Optimizer, compensation: dict[Tensor, Tensor]) -> None:
    """One Adam/AdamW step of `optimizer` by optimi, in place; `compensation` maps each bf16 weight to its buffer.

    Decoupled weight decay goes into the compensation buffer (multiplying a bf16 weight by 1 - lr * wd would
    round the decay away), so it survives as the built-in update's does. Parameters are stepped in groups of
    equal step count (torch counts per parameter; one that had no gradient for a while is behind).
    """
    adam = optimi_adam()
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            continue
        for p in params:
            if not optimizer.state[p]:
                state = optimizer.state[p]
                state["step"] = _step_tensor(group, p)
                state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        decoupled = isinstance(optimizer, torch.optim.AdamW) or bool(group.get("decoupled_weight_decay"))
        if wd and decoupled:
            _decay(params, compensation, lr * wd)
        counters = [optimizer.state[p]["step"] for p in params]
        steps = [int(t) for t in torch.stack([c.cpu() for c in counters]).tolist()]
        for step in sorted(set(steps)):
            chunk = [p for p, t in zip(params, steps, strict=True) if t == step]
            states = [optimizer.state[p] for p in chunk]
            beta1, beta2 = (float(b) for b in group["betas"])
            adam(
                params=chunk,
                grads=[p.grad for p in chunk],
                exp_avgs=[s["exp_avg"] for s in states],
                exp_avg_sqs=[s["exp_avg_sq"] for s in states],
                kahan_comps=[compensation.get(p) for p in chunk],
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0 if decoupled else wd,
                eps=float(group["eps"]),
                step=torch.tensor(step, dtype=torch.int32),
                decouple_wd=False,
                kahan_sum=True,
                foreach=True,
            )
        torch._foreach_add_(counters, 1)
    optimizer._opt_called = True  # type: ignore[attr-defined]  # as torch's step does: LR schedulers check it


def _decay(params: list[Tensor], compensation: dict[Tensor, Tensor], rate: float) -> None:
    """Decoupled weight decay w <- w * (1 - rate): into the compensation of bf16 weights, directly elsewhere."""
    narrow = [p for p in params if p in compensation]
    if narrow:
        torch._foreach_add_([compensation[p] for p in narrow], narrow, alpha=-rate)
    wide = [p for p in params if p not in compensation]
    if wide:
        torch._foreach_mul_(wide, 1 - rate)


def set_moments(optimizer: torch.optim.Optimizer, have: str, want: str) -> None:
    """Convert Adam's moments in `optimizer`'s state from `have` (biased | debiased) to `want`, in place."""
    if have == want:
        return
    for group in optimizer.param_groups:
        beta1, beta2 = (float(b) for b in group["betas"])
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if "exp_avg" not in state:
                continue
            t = float(state["step"])
            c1, c2 = 1 - beta1**t, 1 - beta2**t  # biased = debiased * c
            for key, c in (("exp_avg", c1), ("exp_avg_sq", c2)):
                state[key].mul_(c if want == BIASED else 1 / c)
