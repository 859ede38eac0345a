"""Numerics tooling: sampled gradient telemetry, and pinpointing the first module that went non-finite.

`NumericsProbe` measures on logging steps only (device tensors, read in `metrics()`).
`locate_nonfinite` re-runs one batch under forward and backward hooks and names the first module
whose output (forward) or input gradient (backward) holds inf/NaN: the place to fix.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from framework.errors import PlaitError
from framework.precision import PrecisionStrategy, params_of

REPORT_FILE = "nan_report.json"


class DivergenceError(PlaitError):
    """Training went non-finite; the message names the module, dtype and phase, the crash checkpoint and the report."""


# -- telemetry -----------------------------------------------------------------------------------


def _sample(t: Tensor, k: int) -> Tensor:
    """About `k` evenly strided elements of `t`, flattened (a view: no copy)."""
    t = t.to_local() if hasattr(t, "to_local") else t  # an FSDP2 DTensor: sample this rank's shard
    flat = t.detach().reshape(-1)
    return flat[:: max(1, flat.numel() // k)]


class NumericsProbe:
    """Sampled, cheap numerics of one optimizer step: grad norm, underflow and zero shares, update/param ratio.

    `grad_underflow` is the share of sampled non-zero gradient elements (unscaled) that would be zero
    in `dtype` without loss scaling; `grad_zeros` the share of sampled elements that are exactly zero.
    """

    def __init__(self, dtype: torch.dtype, samples_per_tensor: int = 64) -> None:
        self.dtype = dtype
        self.k = samples_per_tensor
        self._pending: dict[str, Tensor] = {}
        self._before: Tensor | None = None

    def _gather(self, tensors: list[Tensor]) -> Tensor:
        wide = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
        return torch.cat([_sample(t, self.k).to(wide) for t in tensors])

    def before_update(self, params: list[Tensor], norm: Tensor | None) -> None:
        """Measure the (unscaled, clipped) gradients and remember sampled weights; call before the update."""
        grads = [p.grad for p in params if p.grad is not None]
        if norm is not None:
            self._pending["grad_norm"] = norm.detach()
        if grads:
            sample = self._gather(grads)
            nonzero = sample != 0
            lost = nonzero & (sample.to(self.dtype) == 0)
            self._pending["grad_underflow"] = lost.sum() / nonzero.sum().clamp_min(1)
            self._pending["grad_zeros"] = (~nonzero).float().mean()
        self._before = self._gather(params).clone() if params else None

    def after_update(self, params: list[Tensor]) -> None:
        """Relative size of the applied update, ||w_after - w_before|| / ||w_before||, on the sampled weights."""
        if self._before is None:
            return
        after = self._gather(params)
        tiny = torch.finfo(after.dtype).tiny
        self._pending["update_ratio"] = (after - self._before).norm() / self._before.norm().clamp_min(tiny)
        self._before = None

    def read(self) -> dict[str, float]:
        """The measured values as floats (one host sync); clears them."""
        out = {k: float(v) for k, v in self._pending.items()}
        self._pending = {}
        return out


def tensor_megabytes(tensors: Iterable[Any]) -> float:
    """Megabytes held by the distinct tensors in `tensors` (non-tensors are ignored)."""
    seen: set[int] = set()
    total = 0
    for t in tensors:
        if isinstance(t, Tensor) and t.numel() and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total / 2**20


def nested_tensors(obj: Any) -> Iterable[Tensor]:
    """Every tensor inside nested dicts, lists and tuples."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from nested_tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from nested_tensors(v)


# -- pinpointing ---------------------------------------------------------------------------------


@dataclass
class Finding:
    """The first non-finite value seen while re-running a batch."""

    module: str  # qualified module name ('' is the whole model)
    module_type: str
    dtype: str
    phase: str  # weights | forward | loss | backward | gradient


@dataclass
class NonFiniteReport:
    """What `nan_report.json` holds: where training went non-finite and what was saved."""

    step: int
    reason: str
    finding: Finding | None
    crash_checkpoint: str | None
    advice: str = "lower optimizer.lr or set trainer.clip_grad_norm"  # from the precision strategy

    def message(self) -> str:
        """One paragraph for the error: the module, dtype and phase, where things were saved, how to fix."""
        f = self.finding
        where = (
            f"first non-finite value: {f.phase} of module '{f.module or '<model>'}' ({f.module_type}, {f.dtype})"
            if f
            else "re-running the batch under hooks found no non-finite value (the failure did not reproduce)"
        )
        return (
            f"training diverged at step {self.step}: {self.reason}; {where}. "
            f"Crash checkpoint: {self.crash_checkpoint}. Fixes: {self.advice}."
        )

    def write(self, run_dir: Path) -> Path:
        """Write the report as JSON into `run_dir`; returns the file."""
        path = run_dir / REPORT_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def _nonfinite(obj: Any) -> Tensor | None:
    """The first floating tensor in `obj` holding inf/NaN, else None (syncs: diagnosis only)."""
    for t in nested_tensors(obj):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return t
    return None


def _finding(name: str, module: nn.Module, tensor: Tensor, phase: str) -> Finding:
    return Finding(name, type(module).__name__, str(tensor.dtype).removeprefix("torch."), phase)


def locate_nonfinite(
    model: nn.Module, compute_loss: Callable[[], Tensor], backward: Callable[[Tensor], None]
) -> Finding | None:
    """Re-run one batch under hooks; the first module whose weights, output or input gradient is non-finite.

    Backward blame goes to the module whose gradient *inputs* are non-finite while its output
    gradients are finite: the module that produced the inf/NaN, not one that merely passed it on.
    """
    modules = dict(model.named_modules())
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            owner = name.rpartition(".")[0]
            return _finding(owner, modules[owner], p, "weights")
    found: list[Finding] = []

    def on_forward(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            bad = None if found else _nonfinite(output)
            if bad is not None:
                found.append(_finding(name, module, bad, "forward"))

        return hook

    def on_backward(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, grad_input: Any, grad_output: Any) -> None:
            if found or _nonfinite(grad_output) is not None:
                return
            bad = _nonfinite(grad_input)
            if bad is not None:
                found.append(_finding(name, module, bad, "backward"))

        return hook

    for with_backward_hooks in (True, False):  # in-place ops on a hooked output break full backward hooks
        found.clear()
        handles = [m.register_forward_hook(on_forward(n)) for n, m in modules.items()]
        if with_backward_hooks:
            handles += [m.register_full_backward_hook(on_backward(n)) for n, m in modules.items() if n]
        try:
            model.zero_grad(set_to_none=True)
            loss = compute_loss()
            if not found and not math.isfinite(float(loss.detach().float())):
                found.append(Finding("", "loss", str(loss.dtype).removeprefix("torch."), "loss"))
            if not found:
                with warnings.catch_warnings():  # modules fed only non-differentiable inputs (ids, data) warn
                    warnings.filterwarnings("ignore", message="Full backward hook is firing")
                    backward(loss)
            break
        except RuntimeError:
            if not with_backward_hooks:
                raise
        finally:
            for h in handles:
                h.remove()
    if not found:
        for name, p in model.named_parameters():
            if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                owner = name.rpartition(".")[0]
                found.append(_finding(owner, modules[owner], p.grad, "gradient"))
                break
    model.zero_grad(set_to_none=True)
    return found[0] if found else None


FUSED_CHECK_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
HALF_DTYPES = frozenset({torch.float16, torch.bfloat16})
PLAIN_TENSORS = (torch.Tensor, nn.Parameter)  # neither is a DTensor (checking that per tensor costs a microsecond)
LARGE_CPU_HALF = 65_536  # values: from here a CPU half-precision tensor is checked by its extremes (see all_finite)


def all_finite(tensors: Iterable[Tensor | None]) -> bool:
    """True when every given tensor is free of inf/NaN (one host sync).

    Plain floating tensors go through GradScaler's fused kernel, `torch._amp_foreach_non_finite_check_and_unscale_`
    (one call per device and dtype into one flag per device; unscaling by 1 leaves every value as it is). Large
    bf16/fp16 tensors on the CPU are checked by their extremes instead (`aminmax`: inf or NaN shows there): the
    fused kernel's CPU half-precision path also writes every value back, at 1.7x the time of a one-read
    `aminmax` (tools/bench/numerics.py). The rest (integer, complex, fp8, FSDP's DTensors) one by one.
    """
    by_device: dict[tuple[bool, int], dict[torch.dtype, list[Tensor]]] = {}  # (is_cpu, get_device()): no object
    flags: list[Tensor] = []
    extremes: list[Tensor] = []
    for t in tensors:
        if t is None:
            continue
        dtype = t.dtype
        if dtype not in FUSED_CHECK_DTYPES or (type(t) not in PLAIN_TENSORS and hasattr(t, "to_local")):
            flags.append(torch.isfinite(t).all())
        elif dtype in HALF_DTYPES and t.is_cpu and t.numel() >= LARGE_CPU_HALF:
            extremes.extend(e.float() for e in torch.aminmax(t.detach()))
        else:  # (a loss that requires grad goes through the in-place kernel detached)
            groups = by_device.setdefault((t.is_cpu, t.get_device()), {})
            groups.setdefault(dtype, []).append(t.detach() if t.requires_grad else t)
    found: list[Tensor] = []  # one flag per device
    for groups in by_device.values():
        where = next(iter(groups.values()))[0].device
        flag, unit = torch.zeros((), device=where), torch.ones((), device=where)
        for group in groups.values():
            torch._amp_foreach_non_finite_check_and_unscale_(group, flag, unit)
        found.append(flag)
    if not flags and not extremes and len(found) == 1:  # the usual case: one device, plain floating tensors
        return found[0].item() == 0
    flags += [f == 0 for f in found]
    if extremes:
        flags.append(torch.stack(extremes).isfinite().all())
    return bool(torch.stack([f.cpu() for f in flags]).all()) if flags else True


def rng_snapshot(device: torch.device) -> tuple[Tensor, Tensor | None]:
    """The torch RNG state (CPU, and `device` when CUDA), cheap enough to take every step: no host sync."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def restore_rng(snapshot: tuple[Tensor, Tensor | None], device: torch.device) -> None:
    """Restore `rng_snapshot()` so a re-run batch sees the same dropout masks."""
    cpu, cuda = snapshot
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def step_finite(step_loss: Tensor, precision: PrecisionStrategy, optimizer: torch.optim.Optimizer) -> bool:
    """`trainer.detect_anomaly_every_step`'s check: the loss, and the gradients unless the strategy skips overflows."""
    grads = [] if precision.handles_overflow else [t.grad for t in params_of(optimizer)]
    return all_finite([step_loss, *grads])
