"""`plait export`: a run's model written in a format other tools (or Plait itself) open, checked before success.

One flow for every format: the run is reopened on the CPU (`load_run`: its checkpoint, the chosen weights),
`exported_model` gives the model to write, and the format's writer writes it into the output directory and checks
what it wrote against that model (`framework.engine.graph_export`). Formats:

- `plait` (default for Plait's own models): a self-contained checkpoint directory (weights, config, task spec,
  tokenizers; no training state) that every command opens: `plait eval <out dir>`, predict, generate ...;
- `transformers` (default for `hf_*` models): `save_pretrained` and the tokenizers as `PreTrainedTokenizerFast`;
- `onnx`: `model.onnx`, run through onnxruntime for the check; `torchscript`: `model.pt` (traced);
- `safetensors`: `model.safetensors`, plain weights (with `export.json`, the config and spec to rebuild the model).

The graph formats and safetensors also copy the run's tokenizers (`tokenizer/`) and write `export.json`: format,
inputs and outputs with their dynamic axes, the task spec (labels, pad id, vocabulary size), the config, the check.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from framework.engine.averaging import TRAINING_ONLY
from framework.engine.build import Built
from framework.engine.checkpoint import MARKER, TOKENIZER_DIR, Checkpointer, is_complete
from framework.engine.graph_export import (
    CHECK_SHAPES,
    OUTPUT_NAME,
    TRACE_SHAPE,
    check,
    fp32_graph,
    output_names,
    sample_inputs,
    tensors,
    write_onnx,
    write_safetensors,
    write_torchscript,
)
from framework.engine.inference import load_run
from framework.engine.merge import model_to_export
from framework.engine.weights import TRAINED
from framework.errors import PlaitError

FORMATS = {
    "plait": "a checkpoint directory every plait command opens (default for Plait's models)",
    "transformers": "a Hugging Face directory for from_pretrained (default for hf_* models)",
    "onnx": "model.onnx with dynamic batch and sequence axes, checked with onnxruntime",
    "torchscript": "model.pt, a traced TorchScript module (torch.jit.load)",
    "safetensors": "model.safetensors: the weights alone, with export.json to rebuild the model",
}
MANIFEST = "export.json"
CHECKED_ON = " and ".join(f"{b}x{t}" for b, t in CHECK_SHAPES) + " inputs"  # (batch x sequence)
PRIMARY_ROLES = ("text", "shared", "source")


@dataclass
class Exported:
    """What an export wrote and how it was checked."""

    format: str
    path: Path
    check: str  # one sentence: what was compared, and the largest difference


def check_format(name: str) -> str:
    """`name` when it is a format; else the error listing the formats."""
    if name not in FORMATS:
        listed = "; ".join(f"{k}: {v}" for k, v in FORMATS.items())
        raise PlaitError(f"format={name} is not an export format. Formats: {listed}")
    return name


def exported_model(built: Built, merge: bool = False) -> nn.Module:
    """The model every format writes: the reopened run's model with the chosen weights, eval mode, on the CPU.

    The one place a step that changes the model before export belongs (`merge`: an adapter=lora run's adapters
    merged into the weights, framework/engine/merge.py): whatever it returns, every format writes and checks."""
    return model_to_export(built, merge)


def default_format(model: nn.Module) -> str:
    """`transformers` for a model that saves itself as a Hugging Face directory, else `plait`."""
    return "transformers" if callable(getattr(model, "save_pretrained", None)) else "plait"


def export(
    path: Path | str,
    out_dir: Path | str,
    *,
    format: str | None = None,
    checkpoint: str | None = None,
    weights: str = TRAINED,
    dynamo: bool = False,
    merge: bool = False,
) -> Exported:
    """Export the model of a run or checkpoint to `out_dir` in `format` (None: the model's default) and check it."""
    if format is not None:
        check_format(format)  # before the run is opened
    built = load_run(path, device="cpu", checkpoint=checkpoint, weights=weights)
    model = exported_model(built, merge)
    chosen = format or default_format(model)
    out = Path(out_dir).expanduser()
    if chosen == "plait":
        return write_plait(built, model, out)
    if chosen == "transformers":
        return write_transformers(built, model, out)
    return write_file_format(built, model, out, chosen, dynamo=dynamo)


def _manifest(built: Built, fmt: str, file: str, inputs: dict[str, Any], checked: str) -> dict[str, Any]:
    spec = built.spec.to_dict()
    spec.pop("vocab", None)  # the tokenizer/ directory holds it
    return {
        "format": fmt,
        "file": file,
        "source": str(built.checkpoint),
        "task_kind": built.spec.kind,
        **inputs,
        "check": checked,
        "spec": spec,
        "config": OmegaConf.to_container(built.cfg, resolve=True),
    }


def _write_json(data: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_file_format(built: Built, model: nn.Module, out: Path, fmt: str, *, dynamo: bool = False) -> Exported:
    """onnx | torchscript | safetensors: the file, the tokenizers and export.json; the file removed if its check
    fails."""
    out.mkdir(parents=True, exist_ok=True)
    file = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}[fmt]
    target = out / file
    kind = built.spec.kind
    try:
        if fmt == "safetensors":
            reloaded = write_safetensors(model, target)
            what = "weights reloaded bit for bit"
            if kind in OUTPUT_NAME:
                again = fp32_graph(reloaded, kind)
                worst = check(lambda i, m: tensors(again(i, m)), fp32_graph(model, kind), built.spec, fmt)
                what += f"; outputs on {CHECKED_ON} within {worst:.2g}"
            inputs: dict[str, Any] = {}
        else:
            graph = fp32_graph(model, kind)
            example = sample_inputs(built.spec, *TRACE_SHAPE, seed=99)
            names = output_names(graph, example)
            if fmt == "onnx":
                run = write_onnx(graph, built.spec, target, dynamo=dynamo)
            else:
                run = write_torchscript(graph, built.spec, target)
            worst = check(run, graph, built.spec, fmt)
            what = f"reloaded outputs on {CHECKED_ON} within {worst:.2g} of the model's (fp32)"
            axes = ["batch", "sequence"]
            inputs = {"inputs": {"input_ids": ("int64", axes), "attention_mask": ("bool", axes)}, "outputs": names}
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    tokenizers = (built.checkpoint or Path()) / TOKENIZER_DIR
    if tokenizers.is_dir():
        shutil.rmtree(out / TOKENIZER_DIR, ignore_errors=True)
        shutil.copytree(tokenizers, out / TOKENIZER_DIR)
    _write_json(_manifest(built, fmt, file, inputs, what), out / MANIFEST)
    return Exported(fmt, target, what)


def write_plait(built: Built, model: nn.Module, out: Path) -> Exported:
    """A checkpoint directory holding `model`'s weights and the run's config, spec, tokenizers and provenance (no
    training state), written with the checkpoint commit protocol; checked by reopening it as the commands do."""
    if out.exists() and any(out.iterdir()) and not is_complete(out):
        raise PlaitError(f"{out} exists and is not a Plait checkpoint; export into a new or empty directory")
    assert built.state is not None and built.checkpoint is not None
    if out.resolve() == built.checkpoint.resolve():
        raise PlaitError(f"{out} is the checkpoint being exported; export into another directory")
    state = {k: v for k, v in built.state.items() if k not in TRAINING_ONLY}
    state["model"] = model.state_dict()
    state["exported_from"] = str(built.checkpoint)
    source = built.checkpoint / TOKENIZER_DIR
    files = {TOKENIZER_DIR: source} if source.exists() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".tmp-export-{out.name}-{os.getpid()}"  # ours alone: nothing else there is touched
    try:  # the checkpoint commit protocol inside the staging directory, then one rename into place
        staged = Checkpointer(staging, keep_last=0).save(int(state.get("step", 0)), state, files, name=out.name)
        if out.exists():  # an empty directory or an earlier export: replaced whole
            os.replace(out, staging / "replaced")
        os.replace(staged, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    reopened = load_run(out, device="cpu")
    for (name, want), got in zip(model.state_dict().items(), reopened.model.state_dict().values(), strict=True):
        if not torch.equal(want, got):
            raise PlaitError(f"the exported checkpoint {out} does not reopen with the weight {name} intact")
    assert (out / MARKER).is_file()
    return Exported("plait", out, "reopened through the commands' load path: every weight identical")


def write_transformers(built: Built, model: nn.Module, out: Path) -> Exported:
    """`save_pretrained` and the run's tokenizer(s): `text`, `shared` or `source` into the directory itself, any
    other role into `<out>/tokenizer_<role>/`."""
    from framework.capabilities import EXPORTS_TO_TRANSFORMERS, with_capability
    from framework.engine.tokenizer_factory import saved_tokenizers
    from framework.kinds import MODELS
    from framework.schema import NAME_FIELD

    save_model = getattr(model, "save_pretrained", None)
    if not callable(save_model):
        exportable = ", ".join(with_capability(MODELS, EXPORTS_TO_TRANSFORMERS))
        raise PlaitError(
            f"format=transformers needs a model that exports to transformers ({exportable}) but "
            f"{built.checkpoint} was trained with model={built.cfg.model[NAME_FIELD]}; use format=plait, onnx, "
            "torchscript or safetensors"
        )
    out.mkdir(parents=True, exist_ok=True)
    save_model(out)
    assert built.checkpoint is not None
    saved = built.checkpoint / TOKENIZER_DIR
    roles = sorted(p.name for p in saved.iterdir() if p.is_dir()) if saved.is_dir() else []
    primary = next((r for r in PRIMARY_ROLES if r in roles), roles[0] if roles else None)
    load_tokenizer = saved_tokenizers(built.cfg.tokenizer, built.checkpoint)
    for role in roles:
        tokenizer = load_tokenizer(role, list)
        to_transformers = getattr(tokenizer, "to_transformers", None)
        if not callable(to_transformers):
            raise PlaitError(
                f"tokenizer={built.cfg.tokenizer[NAME_FIELD]} cannot be converted for transformers; "
                "use a tokenizer built on Hugging Face tokenizers (see `plait list tokenizer`)"
            )
        to_transformers().save_pretrained(str(out if role == primary else out / f"tokenizer_{role}"))
    return Exported("transformers", out, "written with save_pretrained (load it with from_pretrained)")
