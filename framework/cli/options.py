"""The one option style of Plait's commands that open runs (eval, predict, translate, generate, answer, export,
average, compare, sweep resume): positional paths, then options as `key=value`, typed by an options dataclass.

`key=value` is the spelling (like `plait train`'s overrides). `--key value`, `--key=value` and, for a true/false
option, a bare `--key` are accepted as the same option, with dashes or underscores (`--max-new-tokens 50` is
`max_new_tokens=50`). A key with a dot (`task.test_path=...`) is not an option but an edit of the run's saved config,
where the command takes such edits. Every command parses through `parse_options`, so an unknown option is the same
error everywhere: it names the options the command has and the closest one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from framework.errors import PlaitError, closest

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
NULLS = ("null", "none", "~")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
STYLE = "options: key=value (also --key value, --key=value, and --key alone for a true/false option)"


@dataclass
class Parsed(Generic[T]):
    """A command line split into its positional arguments, its typed options and its config edits."""

    positional: list[str]
    options: T
    overrides: list[str] = field(default_factory=list)


def convert(key: str, value: str, hint: Any) -> Any:
    """`value` as the field type `hint` (str, int, float, bool, or Optional of one)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value.lower() in NULLS:
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            if value.lower() not in TRUE + FALSE:
                raise ValueError(value)
            return value.lower() in TRUE
        return hint(value)
    except ValueError:
        raise PlaitError(f"{key}={value}: expected {getattr(hint, '__name__', hint)}") from None


def _is_bool(hint: Any) -> bool:
    return hint is bool or (bool in typing.get_args(hint) and len(typing.get_args(hint)) <= 2)


def as_key_values(argv: list[str], options: type[DataclassInstance]) -> list[str]:
    """The command line with every `--key value` / `--key=value` / bare `--flag` written as `key=value`."""
    hints = typing.get_type_hints(options)
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            out.append(arg)
            continue
        key, sep, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if not sep and key not in hints:  # unknown: reported as such by the parser, whatever follows it
            out.append(f"{key}=")
            continue
        if not sep:
            following = argv[i] if i < len(argv) else None
            is_value = following is not None and not following.startswith("--")
            if _is_bool(hints.get(key)) and not (is_value and str(following).lower() in TRUE + FALSE + NULLS):
                value = "true"  # a bare --flag
            elif is_value:
                value, i = str(following), i + 1
            else:
                raise PlaitError(f"--{key} needs a value: write {key}=<value>")
        out.append(f"{key}={value}")
    return out


def unknown_option(key: str, names: list[str], usage: str, *, edits: bool) -> PlaitError:
    """The one error for an option a command does not have: its options, the closest, the usage."""
    near = closest(key, names)
    return PlaitError(
        f"unknown option '{key}'. Options: {', '.join(names) or 'none'}."
        + (f" Did you mean '{near}'?" if near else "")
        + (" Edit the run's config with dotted keys, e.g. task.max_length=64." if edits else "")
        + f" usage: {usage}"
    )


def parse_options(
    argv: list[str],
    options: type[T],
    usage: str,
    *,
    positional: int | tuple[int, int | None] = 1,
    edits: bool = False,
) -> Parsed[T]:
    """Split `argv` into positional arguments (`positional`: how many, or (at least, at most or None)), typed
    options and, where the command takes them (`edits`), dotted edits of the run's config."""
    low, high = (positional, positional) if isinstance(positional, int) else positional
    hints = typing.get_type_hints(options)
    names = [f.name for f in dataclasses.fields(options)]
    paths: list[str] = []
    values: dict[str, Any] = {}
    overrides: list[str] = []
    for arg in as_key_values(argv, options):
        key, sep, value = arg.partition("=")
        if not sep:
            if arg.startswith("-"):
                raise PlaitError(f"unknown flag '{arg}'. usage: {usage}")
            paths.append(arg)
        elif "." in key and edits:
            overrides.append(arg)
        elif key in names:
            values[key] = convert(key, value, hints[key])
        else:
            raise unknown_option(key, names, usage, edits=edits)
    if len(paths) < low or (high is not None and len(paths) > high):
        raise PlaitError(f"usage: {usage}")
    return Parsed(paths, options(**values), overrides)
