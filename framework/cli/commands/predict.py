"""`plait predict <run> text="..." | file=<path>`: class predictions of a trained classifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework.cli.commands._common import CommonOptions, open_run, parse_args, read_inputs

HELP = "label texts with a trained classifier: plait predict <run> text=... | file=<one text per line>"
USAGE = (
    'plait predict <run dir or checkpoint> text="..." | file=<one text per line> [device=cpu] '
    "[checkpoint=best|last|<dir>] [weights=ema]"
)


@dataclass
class PredictOptions(CommonOptions):
    """Options of `plait predict`."""

    text: Optional[str] = None  # one text to classify
    file: Optional[str] = None  # a UTF-8 file with one text per line
    batch_size: int = 64  # texts per forward pass


def main(argv: list[str]) -> None:
    """Print `label<TAB>probability<TAB>text` for every input."""
    from framework.engine.inference import infer, task_as
    from framework.task import Predictor

    run, opts, overrides = parse_args(argv, PredictOptions, USAGE)
    texts = read_inputs(opts.text, opts.file)
    built = open_run(run, opts, overrides)
    task: Predictor = task_as(built, Predictor, "predict", "classification")
    results = infer(built, task.predict, texts, batch_size=opts.batch_size)
    for text, result in zip(texts, results, strict=True):
        print(f"{result['label']}\t{result['confidence']:.4f}\t{text}")
