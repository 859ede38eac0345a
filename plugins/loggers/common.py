"""What several loggers share: importing an optional tracker client, and samples as a Markdown table."""

from __future__ import annotations

import importlib
from types import ModuleType

from framework import PlaitError


def import_extra(module: str, extra: str) -> ModuleType:
    """Import `module`, which the `plait[<extra>]` extra installs; a missing one is a PlaitError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PlaitError(
            f"logger={extra} needs the '{exc.name or module}' package, which is not installed: "
            f"pip install 'plait[{extra}]'"
        ) from None


def markdown_table(rows: list[dict[str, str]]) -> str:
    """`rows` as a Markdown table (columns: every key, in first-seen order); `|` and line breaks escaped."""
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
