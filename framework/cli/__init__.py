"""The `plait` command: dispatches to `framework/cli/commands/<name>.py`; `train` is the full Hydra CLI.

Only the train command and `framework.engine.run` know Hydra. Plugins are loaded before Hydra composes, so
their schemas are config-group options (`model=<key>`) with type-checked fields.
"""

from __future__ import annotations

import os
import sys

from framework.cli.commands import command_help, command_names, command_usage, load_command, wants_help
from framework.cli.completion import candidates
from framework.cli.messages import fail
from framework.errors import PlaitError, closest

EXAMPLES = """\
examples:
  plait train
  plait train model=transformer_encoder precision=amp_fp16 trainer.max_steps=500
  plait train -m optimizer.lr=1e-3,3e-4 precision=fp32,amp_bf16
  plait list model
  plait describe model/transformer_encoder
"""


def usage() -> str:
    """The text of `plait --help`."""
    lines = ["usage: plait <command> [args]", "", "commands:"]
    lines += [f"  {name:<10} {command_help(name)}" for name in command_names()]
    return "\n".join(lines) + "\n\n" + EXAMPLES


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `plait` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), end="")
        return
    if argv[0] in ("-sc", "--shell-completion"):  # Hydra's completion script calls `plait -sc query=...`
        line = os.environ.get("COMP_LINE", "")
        offered = candidates(line) if any(a.startswith("query=") for a in argv[1:]) else None
        if offered is not None:  # commands, subcommands; [] lets the shell complete file names
            print(" ".join(offered))
            return
        os.environ["COMP_LINE"] = line.replace(" train", "", 1)  # Hydra completes `plait train <overrides>`
        argv = ["train", *argv]
    command, rest = argv[0], argv[1:]
    names = command_names()
    if command not in names:
        near = closest(command, names)
        fail(
            f"unknown command '{command}'. Commands: {', '.join(names)}."
            + (f" Closest match: '{near}'." if near else "")
        )
    try:
        if wants_help(command, rest):
            print(command_usage(command), end="")
            return
        load_command(command).main(rest)
    except PlaitError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C: checkpoints already written stay intact (atomic renames)
        print("interrupted (no new checkpoint); resume with trainer.resume=auto", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
