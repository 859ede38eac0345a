"""`plait list [kind]`: registered components and their providers."""

from __future__ import annotations

HELP = "registered components (optionally of one kind) and the package that provides each"


def main(argv: list[str]) -> None:
    """Print the table."""
    from framework.cli.describe import print_list

    print_list(argv[0] if argv else None)
