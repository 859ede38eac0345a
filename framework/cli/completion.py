"""Shell completion for `plait` (bash; zsh through bashcompinit), installed with `eval "$(plait -sc install=bash)"`.

Hydra's completion script calls `plait -sc query=bash` with the command line in COMP_LINE. `plait <TAB>`
offers the commands, `plait sweep <TAB>` and `plait tune <TAB>` their subcommands, `plait train <TAB>` is Hydra's own completion of
config groups and keys; for the other arguments nothing is offered, so the shell completes file names
(run and sweep directories).
"""

from __future__ import annotations

from framework.cli.commands import command_names

HYDRA_COMPLETED = "train"  # the command whose arguments Hydra completes
SUBCOMMANDS = {"sweep": ["resume"], "tune": ["lr", "batch-size"]}


def candidates(line: str) -> list[str] | None:
    """The words to offer for the command line `line`, or None when Hydra completes it (`plait train ...`)."""
    args = line.split()[1:]  # without the program name
    current = len(args) if not line or line.endswith(" ") else len(args) - 1  # index of the word being typed
    if current <= 0:
        return command_names()
    if args[0] == HYDRA_COMPLETED:
        return None
    if current == 1:
        return SUBCOMMANDS.get(args[0], [])
    return []
