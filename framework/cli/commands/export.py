"""`plait export <run dir or checkpoint> <out dir> [format=...]`: the run's model in a format other tools open.

Formats: `plait` (a self-contained checkpoint directory every plait command opens; the default for Plait's own
models), `transformers` (save_pretrained with the tokenizers; the default for hf_* models), `onnx` (dynamic batch
and sequence axes, checked with onnxruntime), `torchscript` (traced), `safetensors` (the weights, with export.json
to rebuild the model). Graph formats export the inference call of classifiers and language models, and the encoder
of a seq2seq model. Every export is reloaded and compared with the checkpoint's model before success is reported.
onnx needs the `export` extra: pip install 'plait[export]'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework.cli.options import parse_options

HELP = "write a run's model as a plait checkpoint, transformers dir, ONNX, TorchScript or safetensors (checked)"
USAGE = (
    "plait export <run dir or checkpoint> <out dir> [format=plait|transformers|onnx|torchscript|safetensors] "
    "[checkpoint=best|last|<dir>] [weights=model|ema] [dynamo=false] [merge=true]"
)


@dataclass
class ExportOptions:
    """Options of `plait export` (after the run and the output directory)."""

    format: Optional[str] = None  # plait | transformers | onnx | torchscript | safetensors; null: the model's default
    checkpoint: Optional[str] = None  # best | last | a dir or name in <run>/checkpoints; null: best if kept, else last
    weights: str = "model"  # model: the trained weights | ema: the average a callback=[ema] run kept
    dynamo: bool = False  # format=onnx: torch.export's exporter (slower; needs onnxscript) instead of TorchScript's
    merge: bool = False  # adapter=lora runs: the adapters merged into the base weights first (--merge)


def main(argv: list[str]) -> None:
    """Parse `<path> <out dir> [key=value ...]`, export, and say what was written and how it was checked."""
    from framework.engine.export import check_format, export

    parsed = parse_options(argv, ExportOptions, USAGE, positional=2)
    opts = parsed.options
    if opts.format is not None:
        check_format(opts.format)
    run, out = parsed.positional
    done = export(
        run, out, format=opts.format, checkpoint=opts.checkpoint, weights=opts.weights, dynamo=opts.dynamo,
        merge=opts.merge,
    )  # fmt: skip
    print(f"exported ({done.format}) to {done.path}")
    print(f"checked: {done.check}")
