"""`plait rerun <run> [key=value ...] [hydra.run.dir=<dir>] [--strict]`: a new run from a past run's resolved config.

The past run's `config.yaml` (what it ran with, not conf/ composed again today) plus the overrides, trained into
a new directory (default outputs/<date>/<time>, or hydra.run.dir=<dir>). Works for a single run and for one trial
of a sweep (multirun/<date>/<time>/<n>). Overrides change fields only (optimizer.lr=1e-3, +key=value); choosing
another component (model=lstm) needs `plait train`. The new run's provenance.json names its parent, and
`plait compare <run> <new run>` shows the parent link and the keys that differ.

Warns when the git commit, the uncommitted changes or an installed package (Plait, a dependency, a plugin)
differ from what the past run recorded; with --strict these refuse the rerun before anything is written.
A stopped rerun continues in place: plait rerun <new run> trainer.resume=auto hydra.run.dir=<new run>.
It runs in one process (not under torchrun).
"""

from __future__ import annotations

HELP = "start a new run from a past run's recorded config plus overrides: `plait rerun <run> optimizer.lr=1e-3`"
USAGE = "plait rerun <run dir> [key=value ...] [hydra.run.dir=<new dir>] [--strict]"


def main(argv: list[str]) -> None:
    """Check the arguments, then rerun."""
    from pathlib import Path

    from framework.errors import PlaitError
    from framework.secrets import refuse_secrets

    flags = [a for a in argv if a.startswith("-")]
    args = [a for a in argv if not a.startswith("-")]
    unknown = [f for f in flags if f != "--strict"]
    if unknown or not args or "=" in args[0]:
        raise PlaitError(f"usage: {USAGE}" + (f" (unknown option {' '.join(unknown)})" if unknown else ""))
    source = Path(args[0])
    if not source.is_dir():
        raise PlaitError(f"{source} is not a directory: give a run's directory (it holds config.yaml)")
    refuse_secrets(args[1:])  # first: nothing may be written while a credential is on the command line
    from framework.engine.distributed import launched

    if launched():
        raise PlaitError(
            "plait rerun runs in one process, not under torchrun: rerun here, or start the run under torchrun "
            "with plait train (then its config is composed again from conf/)"
        )

    from framework.cli.rerun import rerun
    from framework.engine.config import store_schemas
    from framework.engine.provenance import set_command
    from framework.plugins import load_plugins

    set_command(["plait", "rerun", *argv])
    load_plugins()
    store_schemas()
    rerun(source, args[1:], strict="--strict" in flags)
