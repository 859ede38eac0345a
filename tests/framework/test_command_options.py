"""One option style for every command that opens a run: `key=value`, with `--key value`, `--key=value` (dashes or
underscores) and a bare `--flag` as the same option; one error for an unknown option; the style in every --help."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from framework.cli.commands import _options_classes, command_names, command_usage, load_command
from framework.cli.options import STYLE, parse_options
from framework.errors import PlaitError

RUN_COMMANDS = {  # command -> its positional arguments (paths that need not exist: options are checked first)
    "eval": ["RUN"],
    "predict": ["RUN"],
    "translate": ["RUN"],
    "generate": ["RUN"],
    "answer": ["RUN"],
    "export": ["RUN", "OUT"],
    "average": ["RUN"],
    "compare": ["RUN"],
    "sweep": ["resume", "RUN"],
}
SAMPLE = {int: "3", float: "0.5", bool: "true", str: "x"}


def positional(name: str, tmp_path: Path) -> list[str]:
    return [str(tmp_path / a) if a.isupper() else a for a in RUN_COMMANDS[name]]


def options_class(name: str) -> type:
    (found,) = _options_classes(load_command(name))
    return found


def test_every_command_that_opens_a_run_is_covered() -> None:
    assert set(RUN_COMMANDS) <= set(command_names())
    for name in RUN_COMMANDS:
        assert "parse_options" in vars(load_command(name)) or "parse_args" in vars(load_command(name)), name


@pytest.mark.parametrize("name", list(RUN_COMMANDS))
@pytest.mark.parametrize("spelling", [["bogus=1"], ["--bogus", "1"], ["--bogus=1"], ["--bogus"]])
def test_an_unknown_option_is_the_same_error_everywhere(name: str, spelling: list[str], tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match=r"unknown option 'bogus'\. Options: .*usage: plait " + name):
        load_command(name).main([*positional(name, tmp_path), *spelling])
    assert not any(tmp_path.iterdir())  # refused before anything was opened or written


@pytest.mark.parametrize("name", list(RUN_COMMANDS))
def test_help_states_the_style_and_lists_the_options(name: str) -> None:
    text = command_usage(name)
    assert STYLE in text
    for field in dataclasses.fields(options_class(name)):
        assert f"  {field.name} " in text


@pytest.mark.parametrize("name", list(RUN_COMMANDS))
def test_key_value_and_flag_spellings_give_the_same_options(name: str, tmp_path: Path) -> None:
    options = options_class(name)
    hints = typing.get_type_hints(options)
    paths = positional(name, tmp_path)
    count = (len(paths), len(paths))
    for field in dataclasses.fields(options):
        kind = next(
            t for t in (bool, int, float, str) if t is hints[field.name] or t in typing.get_args(hints[field.name])
        )
        value = SAMPLE[kind]
        spellings = [
            [f"{field.name}={value}"],
            [f"--{field.name}", value],
            [f"--{field.name.replace('_', '-')}={value}"],
        ]
        if kind is bool:
            spellings.append([f"--{field.name}"])  # a bare flag is true
        parsed = [parse_options([*paths, *s], options, "usage", positional=count).options for s in spellings]
        assert all(p == parsed[0] for p in parsed), (field.name, parsed)
        assert getattr(parsed[0], field.name) == (True if kind is bool else kind(value))


def test_a_flag_without_its_value_and_dotted_edits_where_not_taken_are_clear_errors() -> None:
    export = options_class("export")
    with pytest.raises(PlaitError, match="--format needs a value: write format=<value>"):
        parse_options(["run", "out", "--format"], export, "u", positional=2)
    with pytest.raises(PlaitError, match="unknown option 'task.x'"):
        parse_options(["run", "out", "task.x=1"], export, "u", positional=2)
    eval_options = options_class("eval")
    parsed = parse_options(["run", "--split", "val", "task.test_path=t.tsv"], eval_options, "u", edits=True)
    assert (
        parsed.positional == ["run"] and parsed.options.split == "val" and parsed.overrides == ["task.test_path=t.tsv"]
    )
