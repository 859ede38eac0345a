"""`plait describe <kind>/<name>`: one component's options; for a scheduler, also its learning-rate curve.
`plait describe <run dir>`: what the run ran (framework.cli.run_provenance): commit, diff, command, versions.

A scheduler's curve is computed for the run `plait train` would compose: add overrides such as
`optimizer.lr=3e-4 trainer.max_steps=1000 scheduler.warmup_steps=100`, and `--plot` (or `--plot=PATH`)
to write it as a PNG (default: `lr_<name>.png` in the current directory).
"""

from __future__ import annotations

from framework.errors import PlaitError

HELP = "a component's options (e.g. model/transformer_encoder), or what a run directory ran (commit, command, versions)"
USAGE = (
    "plait describe <kind>/<name> [--plot[=PATH]] [key=value ...]   (--plot and overrides: schedulers)\n"
    "       plait describe <run dir>"
)


def main(argv: list[str]) -> None:
    """Print the description of one component (and a scheduler's learning-rate curve)."""
    from framework.cli.describe import print_describe

    targets: list[str] = []
    plot: str | None = None
    overrides: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--plot" or arg.startswith("--plot="):
            plot = arg.partition("=")[2]
        elif "=" in arg and not arg.startswith("-"):
            overrides.append(arg)
        elif i > 0 and argv[i - 1] == "--plot" and targets:
            raise PlaitError(f"describe does not take '{arg}': write the plot's path as --plot={arg}")
        elif arg.startswith("-"):
            raise PlaitError(f"describe does not take '{arg}'; usage: {USAGE}")
        else:
            targets.append(arg)
    if len(targets) != 1:
        raise PlaitError(f"usage: {USAGE}   (for example: plait describe model/transformer_encoder)")
    from pathlib import Path

    from framework.cli.run_provenance import is_run, print_run

    if is_run(Path(targets[0])) and plot is None and not overrides:
        print_run(Path(targets[0]))
        return
    kind, _, name = targets[0].partition("/")
    if kind != "scheduler" and (plot is not None or overrides):
        raise PlaitError("--plot and key=value overrides draw a scheduler's curve: plait describe scheduler/<name> ...")
    if kind != "scheduler":
        print_describe(targets[0])
        return
    from framework.cli.lr_curve import compose_schedule, print_curve

    cfg = compose_schedule(name, overrides)  # a bad override fails before anything is printed
    print_describe(targets[0])
    print_curve(name, cfg, plot)
