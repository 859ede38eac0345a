"""`plait compare <sweep dir | run dirs...>`: a table and a figure comparing finished runs, where their code and
configs differ (commit, uncommitted changes, differing keys), and their results over seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from framework.cli.options import parse_options

if TYPE_CHECKING:
    from rich.table import Table

HELP = "compare runs (a sweep dir or run dirs): throughput, memory, losses, skipped steps; writes csv, md, png"
USAGE = "plait compare <sweep dir | run dir> [<run dir> ...] [out=<dir>] [log=true]"
LEFT = (
    "run", "strategy", "group", "metric", "commit", "dirty", "parent", "plait commit", "plait dirty", "runs", "dropped"
)  # fmt: skip


def rich_table(title: str, rows: list[dict[str, str]]) -> Table:
    """`rows` (column -> text) as a rich table; names and labels left-aligned, numbers right."""
    from rich.table import Table

    table = Table(title=title)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for column in columns:
        table.add_column(column, justify="left" if column in LEFT else "right")
    for row in rows:
        table.add_row(*(row.get(c, "-") for c in columns), style="red" if row.get("diverged", "no") != "no" else None)
    return table


@dataclass
class CompareOptions:
    """Options of `plait compare` (after the directories)."""

    out: Optional[str] = None  # where to write compare.{csv,md,png}; null: the one directory given, else their parent
    log: bool = False  # also attach compare.{csv,md,png} to every compared run's trackers (W&B, TensorBoard, MLflow)


def main(argv: list[str]) -> None:
    """Parse arguments, compare, print the tables and where the files went."""
    from pathlib import Path

    from rich.console import Console

    from framework.cli.compare import compare, runless_failures
    from framework.cli.seed_groups import repeated
    from framework.cli.seed_groups import rows as group_rows

    parsed = parse_options(argv, CompareOptions, USAGE, positional=(1, None))
    paths, opts = [Path(p) for p in parsed.positional], parsed.options
    result = compare(paths, Path(opts.out) if opts.out else None)
    console = Console(highlight=False)
    if not console.is_terminal:  # logs and pipes: no wrapping at 80 columns
        console = Console(highlight=False, width=240)
    console.print(rich_table(f"{len(result.runs)} runs", result.rows))
    if len(result.runs) > 1:
        console.print(rich_table("what differs: code (provenance.json) and config", result.provenance))
    if repeated(result.groups):
        title = f"over seeds: groups ranked by the mean of {result.objective}"
        console.print(rich_table(title, group_rows(result.groups, fmt=lambda v: f"{v:.4g}")))
    for failure in runless_failures(paths):  # from the sweep's summary.csv
        console.print(
            f"trial {failure['trial']} ({failure['overrides']}) has no run: {failure['status']}", soft_wrap=True
        )
    for path in result.files:
        console.print(f"wrote {path}", soft_wrap=True)
    if opts.log:
        from framework.cli.compare import log_to_trackers

        for run_dir, names in log_to_trackers(result).items():
            console.print(f"logged to {', '.join(names) or 'no tracker'}: {run_dir}", soft_wrap=True)
