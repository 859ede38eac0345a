"""`plait translate <run> text="..." | file=<path>`: translations from a trained seq2seq run (beam search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework.cli.commands._common import CommonOptions, open_run, parse_args, read_inputs

HELP = "translate with a trained run: plait translate <run> text=... | file=<path> [beam_size=5]"
USAGE = (
    'plait translate <run dir or checkpoint> text="..." | file=<one sentence per line> '
    "[beam_size=N] [length_penalty=A] [max_length=N] [device=cpu] [checkpoint=best|last|<dir>] [weights=ema]"
)


@dataclass
class TranslateOptions(CommonOptions):
    """Options of `plait translate`."""

    text: Optional[str] = None  # one source sentence
    file: Optional[str] = None  # a UTF-8 file with one source sentence per line
    beam_size: Optional[int] = None  # beams (1: greedy); null: the run's task.beam_size
    length_penalty: Optional[float] = None  # GNMT length penalty exponent; null: the run's task.length_penalty
    max_length: Optional[int] = None  # most target tokens per sentence; null: the run's task.max_decode_length


def main(argv: list[str]) -> None:
    """Print one translation per input line."""
    from framework.engine.inference import infer, task_as
    from framework.task import Translator

    run, opts, overrides = parse_args(argv, TranslateOptions, USAGE)
    texts = read_inputs(opts.text, opts.file)
    built = open_run(run, opts, overrides)
    task: Translator = task_as(built, Translator, "translate", "translation")
    for line in infer(
        built,
        task.translate,
        texts,
        beam_size=opts.beam_size,
        length_penalty=opts.length_penalty,
        max_length=opts.max_length,
    ):
        print(line)
