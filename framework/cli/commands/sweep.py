"""`plait sweep resume <multirun dir>`: re-run a sweep's trials that failed or never finished.

Each such trial runs again in its own directory, under its own number, from its recorded config (never
composed again from today's conf/), continuing from its last checkpoint where it has one; trials of a
grid that never started run too. Finished trials (those with a result.json) are left as they are. The
sweep summary is written again; the command exits 1 while any trial still fails. To continue a stored
Optuna study with more trials, run the same `plait train -m` command again (docs/scaling.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from framework.cli.options import parse_options
from framework.errors import PlaitError

HELP = "continue a sweep: `plait sweep resume <multirun dir>` re-runs its failed and unfinished trials"
USAGE = "plait sweep resume <multirun dir>"


@dataclass
class SweepOptions:
    """Options of `plait sweep resume`: none yet (an option given is refused, naming this list)."""


def main(argv: list[str]) -> None:
    """Dispatch `plait sweep <subcommand> ...`."""
    parsed = parse_options(argv, SweepOptions, USAGE, positional=2)
    if parsed.positional[0] != "resume":
        raise PlaitError(f"usage: {USAGE}")
    from framework.cli.sweep_resume import resume_sweep
    from framework.cli.sweep_summary import FAILED_EXIT_CODE
    from framework.engine.config import store_schemas
    from framework.plugins import load_plugins

    load_plugins()
    store_schemas()
    if resume_sweep(Path(parsed.positional[1])):
        raise SystemExit(FAILED_EXIT_CODE)
