"""How the CLI ends with a user-facing error: one line on stderr, no traceback, a non-zero exit."""

from __future__ import annotations


def fail(message: str, code: int = 2) -> None:
    """Print a user-facing error (no traceback) and exit."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(code)
