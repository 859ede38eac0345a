"""The `plait` command: `train` (the full Hydra CLI), `list`, `describe`.

Only this module and `framework.run` know Hydra. Plugins are loaded before Hydra composes, so their
schemas are config-group options (`model=<key>`) with type-checked fields.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from framework.registry import PlaitError

USAGE = """\
usage: plait <command> [args]

commands:
  train [overrides...]     train a model; every Hydra feature works (see `plait train --help`)
  list [kind]              registered components and the package that provides each
  describe <kind>/<name>   a component's options: fields, types, defaults, docs, provider

examples:
  plait train
  plait train model=transformer_encoder precision=amp_fp16 trainer.max_steps=500
  plait train -m optimizer.lr=1e-3,3e-4 precision=fp32,amp_bf16
  plait list model
  plait describe model/transformer_encoder
"""


def conf_dir() -> Path:
    """The shipped `conf/` directory: inside the installed package, or at the source checkout root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise PlaitError(f"cannot find conf/train.yaml next to {here}; reinstall plait")


def fail(message: str, code: int = 2) -> None:
    """Print a user-facing error (no traceback) and exit."""
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {message}", markup=True)
    raise SystemExit(code)


def _train(argv: list[str]) -> None:
    from framework.hydra_app import run_hydra_train

    run_hydra_train(argv, conf_dir())


def _list(argv: list[str]) -> None:
    from framework.describe import print_list

    print_list(argv[0] if argv else None)


def _describe(argv: list[str]) -> None:
    from framework.describe import print_describe

    if len(argv) != 1:
        fail("usage: plait describe <kind>/<name>   (for example: plait describe model/transformer_encoder)")
    print_describe(argv[0])


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "train": _train,
    "list": _list,
    "describe": _describe,
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `plait` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        from framework.registry import closest

        near = closest(command, list(COMMANDS))
        fail(
            f"unknown command '{command}'. Commands: {', '.join(COMMANDS)}."
            + (f" Did you mean '{near}'?" if near else "")
        )
    try:
        COMMANDS[command](rest)
    except PlaitError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
