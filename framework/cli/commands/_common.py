"""What the inference commands share: `<run> key=value ...` arguments typed by an options dataclass (parsed by
framework.cli.options, the one option style of every command), reopening the run, and reading the inputs given as
`text=` or `file=`.

Keys with a dot (`task.test_path=...`) are not options but edits of the run's saved config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, TypeVar

from framework.cli.options import parse_options
from framework.data.text_files import read_lines
from framework.errors import PlaitError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from framework.engine.build import Built

T = TypeVar("T", bound="DataclassInstance")


@dataclass
class CommonOptions:
    """Options every inference command takes."""

    device: Optional[str] = None  # cpu | cuda | auto; null: the run's trainer.device
    checkpoint: Optional[str] = None  # best | last | a dir or name in <run>/checkpoints; null: best if kept, else last
    weights: str = "model"  # model: the trained weights | ema: the average a callback=[ema] run kept


def parse_args(argv: list[str], options: type[T], usage: str) -> tuple[str, T, list[str]]:
    """(run path, typed options, config edits) from `<run> key=value ...` (framework.cli.options: the one style)."""
    parsed = parse_options(argv, options, usage, positional=1, edits=True)
    return parsed.positional[0], parsed.options, parsed.overrides


def read_inputs(text: str | None, file: str | None) -> list[str]:
    """The inputs: `text`, or every line of `file` (UTF-8; an empty line is an error naming it)."""
    if (text is None) == (file is None):
        raise PlaitError('give exactly one of text="..." or file=<path> (one input per line)')
    if text is not None:
        if not text.strip():
            raise PlaitError('text= is empty: give the input, e.g. text="a fine film", or file=<one input per line>')
        return [text]
    assert file is not None  # exactly one of the two is given
    path = Path(file).expanduser()
    if not path.is_file():
        raise PlaitError(f"input file not found: {path}")
    return read_lines(path)


def open_run(run: str, opts: CommonOptions, overrides: list[str]) -> Built:
    """Reopen `run` for inference as the common options say: device, checkpoint, weights."""
    from framework.engine.inference import load_run

    return load_run(run, device=opts.device, overrides=overrides, checkpoint=opts.checkpoint, weights=opts.weights)
