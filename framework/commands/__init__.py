"""Subcommands of `plait`, one module each, found by name: `framework/commands/<name>.py`.

A command module defines `HELP` (one line, shown in `plait --help`) and `main(argv: list[str]) -> None`.
Modules are imported only when their command runs, so `plait --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

_HELP = re.compile(r'^HELP\s*=\s*"(.*)"\s*$', re.MULTILINE)


def command_names() -> list[str]:
    """Every available subcommand."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def command_help(name: str) -> str:
    """The one-line help of a command, read from its source without importing it."""
    source = (Path(__file__).parent / f"{name}.py").read_text(encoding="utf-8")
    found = _HELP.search(source)
    return found.group(1) if found else ""


def load_command(name: str) -> ModuleType:
    """Import the module of one command."""
    return importlib.import_module(f"framework.commands.{name}")
