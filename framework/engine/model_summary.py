"""The model summary of a run: parameters per top-level module (trainable and frozen), bytes by dtype, and the
training FLOPs a token costs, measured, beside the `6 x parameters` rule.

The FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` over one forward and backward of the task's
loss on one training batch. That runs on a `meta` copy of the model (no memory, no arithmetic, the same shapes), so
it costs milliseconds at any size; a model or task that cannot run on `meta` is counted on the real model instead
(eval mode, gradients cleared, random streams kept), where CPU attention kernels go uncounted. FlopCounterMode counts
matrix products (linear, matmul, convolution, attention): 2 FLOPs per multiply-add, backward twice the forward.
The same function measures the benchmarks' FLOPs (tools/bench/gpu_throughput.py): one definition in the project.

The JSON (`model_summary.json` in the run) is read without torch: `plait describe <run>` and `plait compare`.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn

    from framework.task import Batch, Task

SUMMARY_FILE = "model_summary.json"
OWN = "(own)"  # parameters registered on the model itself rather than on a child module
RULE = "6 x parameters (forward 2 + backward 4 FLOPs per parameter per token; attention not included)"


def parameter_rows(model: nn.Module) -> list[dict[str, Any]]:
    """One row per top-level module: parameters, trainable, frozen (a tied parameter counted once, where first seen)."""
    groups: dict[str, list[nn.Parameter]] = {OWN: list(model.parameters(recurse=False))}
    groups |= {name: list(child.parameters()) for name, child in model.named_children()}
    seen: set[int] = set()
    rows = []
    for name, params in groups.items():
        unique = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in unique)
        if not unique and name == OWN:
            continue
        trainable = sum(p.numel() for p in unique if p.requires_grad)
        total = sum(p.numel() for p in unique)
        rows.append({"module": name, "parameters": total, "trainable": trainable, "frozen": total - trainable})
    return rows


def bytes_by_dtype(model: nn.Module) -> dict[str, int]:
    """Bytes of the parameters and buffers by dtype (each tensor once), e.g. {"float32": 4000, "int64": 8}."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        key = str(tensor.dtype).removeprefix("torch.")
        out[key] = out.get(key, 0) + tensor.numel() * tensor.element_size()
    return dict(sorted(out.items()))


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` whose parameters and buffers are on `meta` (shapes only; the weights are never copied)."""
    import torch
    from torch import nn

    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo.setdefault(id(p), nn.Parameter(p.detach().to("meta"), requires_grad=p.requires_grad))
    for b in model.buffers():
        memo.setdefault(id(b), b.detach().to("meta"))
    clone = copy.deepcopy(model, memo)  # the memo makes every parameter and buffer map to its meta twin
    for module in clone.modules():  # nn.Module.compile(): count the eager graph, never compile a meta copy
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None
    assert all(p.device == torch.device("meta") for p in clone.parameters())
    return clone


def training_flops(
    model: nn.Module, loss: Callable[[nn.Module], Tensor], *, real_fallback: bool = True
) -> tuple[int, str]:
    """(FLOPs of one forward + backward of `loss(model)`, where counted: "meta" or "real").

    `loss` takes the model it should run (the meta copy, or `model` itself) and moves its inputs to that model's
    device (`framework.task.model_device`). Nothing of `model` changes: weights, gradients, modes, random streams."""
    from torch.utils.flop_counter import FlopCounterMode

    from framework.engine.memory import random_states_kept

    def count(target: nn.Module) -> int:
        with random_states_kept(), FlopCounterMode(display=False) as counter:
            value = loss(target)
            value.backward()
        return int(counter.get_total_flops())

    try:
        return count(meta_copy(model)), "meta"
    except Exception:  # an op without a meta kernel, a data-dependent shape, .item(): count on the real model
        if not real_fallback:
            raise
    was_training, had_grad = model.training, {id(p) for p in model.parameters() if p.grad is not None}
    model.eval()
    try:
        return count(model), "real"
    finally:
        for p in model.parameters():
            if id(p) not in had_grad:
                p.grad = None
        model.train(was_training)


def one_batch(task: Task, batch_size: int) -> Batch:
    """The first training batch, read without touching the run's random streams."""
    from framework.engine.memory import random_states_kept

    with random_states_kept():
        batches = task.batches("train", batch_size=batch_size, epoch_seed=0)
        try:
            return next(iter(batches))
        finally:
            close = getattr(batches, "close", None)
            if callable(close):
                close()


def summarize_model(
    model: nn.Module, task: Task | None = None, batch_size: int = 1, *, real_fallback: bool = True
) -> dict[str, Any]:
    """The summary as plain JSON-ready data; FLOPs measured when a `task` gives a training batch
    (`real_fallback`: on the real model where the meta copy cannot run)."""
    from framework.task import model_device

    rows = parameter_rows(model)
    params = sum(r["parameters"] for r in rows)
    trainable = sum(r["trainable"] for r in rows)
    summary: dict[str, Any] = {
        "parameters": params,
        "trainable": trainable,
        "frozen": params - trainable,
        "modules": rows,
        "bytes_by_dtype": bytes_by_dtype(model),
        "rule_flops_per_token": 6 * params,
        "rule": RULE,
    }
    if task is None:
        return summary
    try:
        batch = one_batch(task, batch_size)
        flops, where = training_flops(
            model, lambda m: task.loss(m, batch.to(model_device(m))), real_fallback=real_fallback
        )
    except Exception as exc:  # the run goes on; the summary says why it has no FLOPs
        summary["flops_error"] = f"{type(exc).__name__}: {exc}"
        return summary
    tokens = max(batch.n_tokens, 1)
    summary |= {
        "flops_per_batch": flops,
        "batch": {"samples": batch.n_samples, "tokens": batch.n_tokens},
        "flops_per_token": flops / tokens,
        "flops_counted_on": where,
    }
    return summary


def _count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.4g}"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary for people: a module table, then totals, bytes and FLOPs (no torch needed)."""
    lines = [f"  {'module':<24} {'parameters':>12} {'trainable':>12} {'frozen':>12}"]
    for row in summary.get("modules", []):
        lines.append(f"  {row['module']:<24} {row['parameters']:>12,} {row['trainable']:>12,} {row['frozen']:>12,}")
    lines.append(f"  {'total':<24} {summary['parameters']:>12,} {summary['trainable']:>12,} {summary['frozen']:>12,}")
    sizes = ", ".join(f"{dtype} {n / 1e6:,.2f} MB" for dtype, n in summary.get("bytes_by_dtype", {}).items())
    lines.append(f"  bytes: {sizes or 'none'}")
    rule = f"6 x parameters: {_count(summary['rule_flops_per_token'])}"
    if "flops_per_token" in summary:
        batch = summary["batch"]
        lines.append(
            f"  training FLOPs/token: {_count(summary['flops_per_token'])} measured "
            f"({summary['flops_counted_on']}, one batch: {batch['samples']} samples, {batch['tokens']} tokens); {rule}"
        )
    else:
        lines.append(f"  training FLOPs/token: not measured ({summary.get('flops_error', 'no batch')}); {rule}")
    return lines


def write_summary(summary: dict[str, Any], run_dir: Path) -> Path:
    """`run_dir/model_summary.json`, written whole (temporary file renamed over it)."""
    path = run_dir / SUMMARY_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # never a torn file left behind
        raise
    return path


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """A run's recorded summary; None when the run has none (or it does not parse)."""
    path = Path(run_dir) / SUMMARY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_model_summary(model: nn.Module, task: Task, batch_size: int, run_dir: Path, *, processes: int) -> None:
    """At a run's start (on the main process): measure, print and save the summary. With several `processes` the
    FLOPs are counted on the meta copy only (the real model's backward would call collectives the other processes
    never join), and not at all for a sharded (FSDP) model. A failure to write only warns."""
    import sys

    from framework.engine.distributed import is_sharded

    sharded = is_sharded(model)
    summary = summarize_model(model, None if sharded else task, batch_size, real_fallback=processes == 1)
    if sharded:
        summary["flops_error"] = "not counted for a sharded (FSDP) model"
    print("model summary:\n" + "\n".join(summary_lines(summary)))
    try:
        write_summary(summary, run_dir)
    except OSError as exc:
        print(f"warning: could not write {run_dir / SUMMARY_FILE} ({exc.strerror})", file=sys.stderr)
