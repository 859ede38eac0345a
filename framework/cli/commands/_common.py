"""What the inference commands share: `<run> key=value ...` arguments typed by an options dataclass,
reopening the run, and reading the inputs given as `text=` or `file=`.

Keys with a dot (`task.test_path=...`) are not options but edits of the run's saved config.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from framework.data.text_files import read_lines
from framework.errors import PlaitError, closest

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from framework.engine.build import Built

T = TypeVar("T", bound="DataclassInstance")
NULLS = ("null", "none", "~")


@dataclass
class CommonOptions:
    """Options every inference command takes."""

    device: Optional[str] = None  # cpu | cuda | auto; null: the run's trainer.device
    checkpoint: Optional[str] = (
        None  # best | last | a dir or a name in <run>/checkpoints; null: best when kept, else last
    )
    weights: str = "model"  # model: the trained weights | ema: the average a callback=[ema] run kept


def _convert(key: str, value: str, hint: Any) -> Any:
    """`value` as the field type `hint` (str, int, float, bool, or Optional of one)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value.lower() in NULLS:
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return hint(value)
    except ValueError:
        raise PlaitError(f"{key}={value}: expected {getattr(hint, '__name__', hint)}") from None


def parse_args(argv: list[str], options: type[T], usage: str) -> tuple[str, T, list[str]]:
    """(run path, typed options, config overrides) from `<run> key=value ...`."""
    if not argv or "=" in argv[0] or argv[0].startswith("-"):
        raise PlaitError(f"usage: {usage}")
    hints = typing.get_type_hints(options)
    names = [f.name for f in dataclasses.fields(options)]
    values: dict[str, Any] = {}
    overrides: list[str] = []
    for arg in argv[1:]:
        key, sep, value = arg.partition("=")
        if not sep:
            raise PlaitError(f"expected key=value, got '{arg}'. usage: {usage}")
        if "." in key:
            overrides.append(arg)
        elif key in names:
            values[key] = _convert(key, value, hints[key])
        else:
            near = closest(key, names)
            raise PlaitError(
                f"unknown option '{key}'. Options: {', '.join(names)}."
                + (f" Did you mean '{near}'?" if near else "")
                + " Edit the run's config with dotted keys, e.g. task.max_length=64"
            )
    return argv[0], options(**values), overrides


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
