"""Exported graphs of a model's inference call (ONNX, TorchScript) and the check of any export against the model.

The graph is the call a serving stack makes, by task kind: classification and language modelling call the model
`(input_ids (B, T) int64, attention_mask (B, T) bool) -> logits`; for seq2seq the encoder is exported,
`encode(src_ids, src_mask) -> memory`. Batch and sequence axes are dynamic: the graph is traced at one shape and
checked, reloaded from its file, at two others (one of them with a right-padded row) against the model in PyTorch.
The check runs in fp32: a model trained in lower precision is exported as its fp32 copy.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from framework.errors import PlaitError
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, TaskSpec

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = {CLASSIFICATION: "logits", LANGUAGE_MODELING: "logits", SEQ2SEQ: "memory"}
TOLERANCE = 1e-4  # of the largest output magnitude (at least 1): graph exporters reorder fp32 arithmetic
TRACE_SHAPE = (2, 8)  # (batch, sequence) the graph is traced at
CHECK_SHAPES = ((1, 5), (3, 11))  # other shapes: the dynamic axes are checked too
EXTRA = "pip install 'plait[export]'"

Run = Callable[[Tensor, Tensor], list[Tensor]]


class InferenceGraph(nn.Module):
    """The inference call of `model` for task `kind` as a module of (input_ids, attention_mask)."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        if kind not in OUTPUT_NAME:
            raise PlaitError(
                f"graph export covers {', '.join(OUTPUT_NAME)} models (seq2seq: its encoder); this run's task is "
                f"{kind}. Export its weights with format=safetensors or format=plait"
            )
        if kind == SEQ2SEQ and not callable(getattr(model, "encode", None)):
            raise PlaitError(f"the seq2seq model {type(model).__name__} has no encode(src_ids, src_mask) to export")
        self.model, self.kind = model, kind

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Any:
        """Logits (classification, language modelling) or the encoder's memory (seq2seq)."""
        if self.kind == SEQ2SEQ:
            encode: Callable[[Tensor, Tensor], Any] = getattr(self.model, "encode")  # noqa: B009  (checked above)
            return encode(input_ids, attention_mask)
        return self.model(input_ids, attention_mask)


def fp32_graph(model: nn.Module, kind: str) -> InferenceGraph:
    """The inference graph of `model` in fp32 and eval mode (a copy when the model holds other float dtypes)."""
    floats = {p.dtype for p in model.parameters() if p.is_floating_point()}
    target = model if floats <= {torch.float32} else copy.deepcopy(model).float()
    return InferenceGraph(target.eval(), kind).eval()


def sample_inputs(spec: TaskSpec, batch: int, length: int, seed: int) -> tuple[Tensor, Tensor]:
    """Random ids of `spec`'s vocabulary (above the usual special ids) and a mask; with several rows, the last is
    right-padded to half its length."""
    generator = torch.Generator().manual_seed(seed)
    length = max(2, min(length, spec.max_length))
    ids = torch.randint(min(4, spec.vocab_size - 1), spec.vocab_size, (batch, length), generator=generator)
    mask = torch.ones(batch, length, dtype=torch.bool)
    if batch > 1:
        mask[-1, length // 2 :] = False
    return ids.masked_fill(~mask, spec.pad_id), mask


def tensors(result: Any) -> list[Tensor]:
    """The tensors of a call's result, in order (a tensor, a tuple or list of them, or a mapping's values)."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, Mapping):
        return [t for v in result.values() for t in tensors(v)]
    if isinstance(result, Sequence) and not isinstance(result, str):
        return [t for v in result for t in tensors(v)]
    return []


def check(run: Run, graph: InferenceGraph, spec: TaskSpec, what: str) -> float:
    """The largest difference between `run` (the reloaded export) and `graph` over the check inputs; an error
    naming the input shape when it exceeds TOLERANCE."""
    worst = 0.0
    for seed, (batch, length) in enumerate(CHECK_SHAPES):
        ids, mask = sample_inputs(spec, batch, length, seed)
        with torch.no_grad():
            want = [t.float() for t in tensors(graph(ids, mask))]
            got = [t.float() for t in run(ids, mask)]
        shapes = [tuple(t.shape) for t in got], [tuple(t.shape) for t in want]
        if shapes[0] != shapes[1]:
            raise PlaitError(
                f"the exported {what} gives outputs of shapes {shapes[0]} where the model gives {shapes[1]}"
            )
        for g, w in zip(got, want, strict=True):
            both_nan = g.isnan() & w.isnan()
            diff = float((g - w).abs().masked_fill(both_nan, 0).max()) if g.numel() else 0.0
            scale = max(1.0, float(w.abs().masked_fill(w.isnan(), 0).max()) if w.numel() else 1.0)
            if not diff <= TOLERANCE * scale:
                raise PlaitError(
                    f"the exported {what} differs from the model by {diff:.3g} on a batch of {batch} x {length} "
                    f"(tolerance {TOLERANCE:g} x {scale:.3g}); it was not kept. The model may branch on its input's "
                    "shape or values; try another format"
                )
            worst = max(worst, diff)
    return worst


def require(module: str, why: str) -> Any:
    """Import an optional module of the `export` extra, or an error naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PlaitError(f"{why} needs the '{module}' package: {EXTRA}") from None


def output_names(graph: InferenceGraph, example: tuple[Tensor, Tensor]) -> list[str]:
    """`logits` / `memory`, numbered when the call returns several tensors."""
    with torch.no_grad():
        n = len(tensors(graph(*example)))
    name = OUTPUT_NAME[graph.kind]
    return [name] if n == 1 else [f"{name}_{i}" for i in range(n)]


def write_onnx(graph: InferenceGraph, spec: TaskSpec, path: Path, *, dynamo: bool = False) -> Run:
    """Write the graph as ONNX (dynamic batch and sequence axes); returns its onnxruntime session as a Run.

    `dynamo`: torch.export's exporter (needs onnxscript; slower, fails on some recurrent models) instead of the
    TorchScript-based one."""
    require("onnx", "format=onnx")
    ort = require("onnxruntime", "checking an ONNX export")
    if dynamo:
        require("onnxscript", "format=onnx dynamo=true")
    example = sample_inputs(spec, *TRACE_SHAPE, seed=99)
    outputs = output_names(graph, example)
    per_token = graph.kind != CLASSIFICATION
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notes: the check below is the judge
        if dynamo:
            batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=spec.max_length)
            axes = {0: batch, 1: sequence}
            torch.onnx.export(
                graph, example, str(path), dynamo=True, input_names=list(INPUT_NAMES), output_names=outputs,
                dynamic_shapes={name: axes for name in INPUT_NAMES},
            )  # fmt: skip
        else:
            dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
            dynamic |= {name: {0: "batch", 1: "sequence"} if per_token else {0: "batch"} for name in outputs}
            torch.onnx.export(
                graph, example, str(path), dynamo=False, input_names=list(INPUT_NAMES), output_names=outputs,
                dynamic_axes=dynamic,
            )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}  # an input the graph never reads is dropped by the exporter

    def run(ids: Tensor, mask: Tensor) -> list[Tensor]:
        feed = {k: v.numpy() for k, v in zip(INPUT_NAMES, (ids, mask), strict=True) if k in wanted}
        return [torch.from_numpy(out) for out in session.run(None, feed)]

    return run


def write_torchscript(graph: InferenceGraph, spec: TaskSpec, path: Path) -> Run:
    """Trace the graph to TorchScript, save it, and return the reloaded module as a Run."""
    example = sample_inputs(spec, *TRACE_SHAPE, seed=99)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about shapes: the check on other shapes is the judge
        traced = torch.jit.trace(graph, example, check_trace=False)
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda ids, mask: tensors(loaded(ids, mask))


def write_safetensors(model: nn.Module, path: Path) -> nn.Module:
    """Save the weights as safetensors (a tied tensor once) and return a copy of `model` reloaded from the file
    (strict: every weight present, none left over)."""
    from safetensors.torch import load_model, save_model

    save_model(model, str(path))
    reloaded = copy.deepcopy(model)
    missing, unexpected = load_model(reloaded, str(path), strict=True)
    if missing or unexpected:  # strict raises first; kept for clarity
        raise PlaitError(f"{path} does not hold the model's weights (missing {missing}, unexpected {unexpected})")
    for (name, want), got in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        if not torch.equal(want, got):
            raise PlaitError(f"{path}: the weight {name} does not reload bit for bit")
    return reloaded
