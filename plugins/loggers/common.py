"""What several loggers share: importing an optional tracker client, and samples as a Markdown table."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from framework import PlaitError


def _missing(package: str, extra: str) -> PlaitError:
    return PlaitError(
        f"logger={extra} needs the '{package}' package, which is not installed: pip install 'plait[{extra}]'"
    )


def check_extra(module: str, extra: str) -> None:
    """Fail at build time, before training starts, when `module` (from the `plait[<extra>]` extra) is missing."""
    try:
        found = sys.modules[module] is not None if module in sys.modules else bool(importlib.util.find_spec(module))
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _missing(module, extra)


def import_extra(module: str, extra: str) -> ModuleType:
    """Import `module`, which the `plait[<extra>]` extra installs; a missing one (or a missing dependency of it)
    is a PlaitError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(exc.name or module, extra) from None


def markdown_table(rows: list[dict[str, str]]) -> str:
    """`rows` as a Markdown table (columns: every key, in first-seen order); `|` and line breaks escaped."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
