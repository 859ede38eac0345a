"""Numerics tooling: sampled gradient telemetry, and pinpointing the first module that went non-finite.

`NumericsProbe` measures on logging steps only (device tensors, read in `metrics()`).
`locate_nonfinite` re-runs one batch under forward and backward hooks and names the first module
whose output (forward) or input gradient (backward) holds inf/NaN: the place to fix.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from operator import attrgetter
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


class FiniteCheck:
    """Whether many tensors are free of inf/NaN, in one host sync: the trainer's per-step check. It keeps its flag
    tensors between calls (the kernel only ever sets a flag; a call that finds a bad value clears it again).

    Plain floating tensors go through GradScaler's fused kernel, `torch._amp_foreach_non_finite_check_and_unscale_`
    (unscaling by 1 leaves every value as it is): one call per device on the CPU, whose kernel takes mixed dtypes,
    one per device and dtype elsewhere (the multi-tensor fast route needs one dtype). The grouping runs in C++
    where torch offers it (`torch._C._group_tensors_by_device_and_dtype`, as torch.optim's foreach paths use).
    Large bf16/fp16 tensors on the CPU are checked by their extremes instead (`aminmax`: inf or NaN shows there):
    the kernel's CPU half-precision path also writes every value back, at 1.7x the time of a one-read `aminmax`
    (tools/bench/numerics.py). The rest (integer, complex, fp8, FSDP's DTensors) one by one.
    """

    def __init__(self) -> None:
        self._flags: dict[torch.device, tuple[Tensor, Tensor]] = {}  # device -> (found_inf, kept at 0; inv_scale 1)

    def __call__(self, tensors: Iterable[Tensor | None]) -> bool:
        """True when every given tensor (None ignored) is free of inf/NaN."""
        present = [t for t in tensors if t is not None]
        if _plain_cpu(present):  # the usual case on the CPU: one kernel call, no grouping
            flag, unit = self._buffers(CPU)
            torch._amp_foreach_non_finite_check_and_unscale_(present, flag, unit)
            return self._read(flag)
        singles: list[Tensor] = []  # checked one by one
        if _DTENSOR_MODULE in sys.modules:  # no DTensor exists before torch.distributed.tensor is imported
            singles = [t for t in present if type(t) not in PLAIN_TENSORS and hasattr(t, "to_local")]
            present = [t for t in present if type(t) in PLAIN_TENSORS or not hasattr(t, "to_local")]
        extremes: list[Tensor] = []
        fused: dict[torch.device, list[list[Tensor]]] = {}
        for (device, dtype), group in _by_device_and_dtype(present).items():
            if dtype not in FUSED_CHECK_DTYPES:
                singles += group
                continue
            if dtype in HALF_DTYPES and device.type == "cpu" and any(t.numel() >= LARGE_CPU_HALF for t in group):
                extremes += [e.float() for t in group if t.numel() >= LARGE_CPU_HALF for e in torch.aminmax(t.detach())]
                group = [t for t in group if t.numel() < LARGE_CPU_HALF]
            fused.setdefault(device, []).append(group)
        found = [self._check(groups, device) for device, groups in fused.items()]
        verdicts = [torch.isfinite(t).all() for t in singles]
        if extremes:
            verdicts.append(torch.stack(extremes).isfinite().all())
        clean = bool(torch.stack([v.cpu() for v in verdicts]).all()) if verdicts else True
        return all([self._read(flag) for flag in found]) and clean  # every flag read, so every flag is cleared

    def _buffers(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """`device`'s (found_inf, inv_scale) pair for the kernel, made on first use."""
        if device not in self._flags:
            self._flags[device] = torch.zeros((), device=device), torch.ones((), device=device)
        return self._flags[device]

    def _check(self, groups: list[list[Tensor]], device: torch.device) -> Tensor:
        """Run the fused kernel over `groups` (each of one dtype) into `device`'s flag, and return the flag."""
        flag, unit = self._buffers(device)
        for group in [[t for g in groups for t in g]] if device.type == "cpu" else groups:
            if group:
                torch._amp_foreach_non_finite_check_and_unscale_(group, flag, unit)
        return flag

    @staticmethod
    def _read(flag: Tensor) -> bool:
        """Whether `flag` is still clear (a host sync); a set flag is cleared for the next call."""
        if flag.item() == 0:
            return True
        flag.zero_()
        return False


def all_finite(tensors: Iterable[Tensor | None]) -> bool:
    """True when every given tensor is free of inf/NaN (one host sync): `FiniteCheck` once, with fresh flags."""
    return FiniteCheck()(tensors)


_DTENSOR_MODULE = "torch.distributed.tensor"
CPU = torch.device("cpu")
_IS_CPU, _DTYPE = attrgetter("is_cpu"), attrgetter("dtype")  # mapped over a list: cheaper than a generator


def _plain_cpu(tensors: list[Tensor]) -> bool:
    """Whether one kernel call on the CPU checks all of `tensors`: plain CPU tensors of the kernel's dtypes, none
    of them a large half-precision tensor (those go by their extremes) and no DTensor possible."""
    if _DTENSOR_MODULE in sys.modules or not all(map(_IS_CPU, tensors)):
        return False
    dtypes = set(map(_DTYPE, tensors))
    return dtypes <= FUSED_CHECK_DTYPES and (
        dtypes.isdisjoint(HALF_DTYPES) or max(map(Tensor.numel, tensors), default=0) < LARGE_CPU_HALF
    )


def _by_device_and_dtype(tensors: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[Tensor]]:
    """`tensors` grouped by device and dtype, in C++ where this torch offers it."""
    if not tensors:
        return {}
    if hasattr(torch._C, "_group_tensors_by_device_and_dtype"):
        nested: list[list[Tensor | None]] = [list(tensors)]
        grouped = torch._C._group_tensors_by_device_and_dtype(nested, False)
        return {key: [t for t in lists[0] if t is not None] for key, (lists, _) in grouped.items()}
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return groups


def rng_snapshot(device: torch.device) -> tuple[Tensor, Tensor | None]:
    """The torch RNG state (CPU, and `device` when CUDA), cheap enough to take every step: no host sync."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def restore_rng(snapshot: tuple[Tensor, Tensor | None], device: torch.device) -> None:
    """Restore `rng_snapshot()` so a re-run batch sees the same dropout masks."""
    cpu, cuda = snapshot
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def step_finite(
    step_loss: Tensor, precision: PrecisionStrategy, optimizer: torch.optim.Optimizer, check: FiniteCheck
) -> bool:
    """`trainer.detect_anomaly_every_step`'s check: the loss, and the gradients unless the strategy skips overflows."""
    grads = [] if precision.handles_overflow else [t.grad for t in params_of(optimizer)]
    return check([step_loss, *grads])
