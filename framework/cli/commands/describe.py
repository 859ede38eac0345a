"""`plait describe <kind>/<name>`: one component's options."""

from __future__ import annotations

from framework.errors import PlaitError

HELP = "a component's options: fields, types, defaults, docs and provider (e.g. model/transformer_encoder)"


def main(argv: list[str]) -> None:
    """Print the description of one component."""
    from framework.cli.describe import print_describe

    if len(argv) != 1:
        raise PlaitError(
            "usage: plait describe <kind>/<name>   (for example: plait describe model/transformer_encoder)"
        )
    print_describe(argv[0])
