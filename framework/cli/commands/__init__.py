"""Subcommands of `plait`, one module each, found by name: `framework/commands/<name>.py`.

A command module defines `HELP` (one line, shown in `plait --help`) and `main(argv: list[str]) -> None`;
optionally `USAGE` (its synopsis) and an options dataclass named `*Options` (listed by `plait <cmd> --help`).
`plait <cmd> --help` is answered here for every command but `train` (Hydra's own help), so no command
needs its own help handling. Modules are imported only when their command runs, so `plait --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_HELP = re.compile(r'^HELP\s*=\s*"(.*)"\s*$', re.MULTILINE)


def command_names() -> list[str]:
    """Every available subcommand (module `new_plugin.py` is the command `new-plugin`)."""
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(m.name.replace("_", "-") for m in modules if not m.name.startswith("_"))


def command_help(name: str) -> str:
    """The one-line help of a command, read from its source without importing it."""
    source = (Path(__file__).parent / f"{name.replace('-', '_')}.py").read_text(encoding="utf-8")
    found = _HELP.search(source)
    return found.group(1) if found else ""


def load_command(name: str) -> ModuleType:
    """Import the module of one command."""
    return importlib.import_module(f"framework.cli.commands.{name.replace('-', '_')}")


OWN_HELP = {"train"}  # commands that answer --help themselves (Hydra's help lists groups and options)


def wants_help(name: str, argv: list[str]) -> bool:
    """True when `plait <name> ... --help` should print the generic command help."""
    return name not in OWN_HELP and any(a in ("-h", "--help") for a in argv)


def command_usage(name: str) -> str:
    """`plait <name> --help`: synopsis, one-line help, the module's description and its options."""
    module = load_command(name)
    doc = inspect.getdoc(module) or ""
    synopsis = getattr(module, "USAGE", None) or f"plait {name} [args]"
    lines = [f"usage: {synopsis}", "", command_help(name) or doc.split("\n", 1)[0]]
    if doc:
        lines += ["", doc]
    for options in _options_classes(module):
        from framework.cli.describe import field_comments
        from framework.cli.options import STYLE

        comments = field_comments(options)
        lines += ["", STYLE + ":"]
        lines += [] if dataclasses.fields(options) else ["  (none)"]
        for f in dataclasses.fields(options):
            default = f.default if f.default is not dataclasses.MISSING else "(required)"
            lines.append(f"  {f.name:<20} {comments.get(f.name, '')}  [default: {default}]")
    return "\n".join(lines) + "\n"


def _options_classes(module: ModuleType) -> list[type[DataclassInstance]]:
    return [
        obj
        for obj_name, obj in vars(module).items()
        if obj_name.endswith("Options")
        and isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == module.__name__
    ]
