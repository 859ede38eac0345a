"""`plait compare <sweep dir | run dirs...>`: a table and a figure comparing finished runs."""

from __future__ import annotations

HELP = "compare runs (a sweep dir or run dirs): throughput, memory, losses, skipped steps; writes csv, md, png"


def main(argv: list[str]) -> None:
    """Parse arguments, compare, print the table and where the files went."""
    import argparse
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from framework.cli.compare import compare, runless_failures

    parser = argparse.ArgumentParser(prog="plait compare", description=HELP)
    parser.add_argument("paths", nargs="+", type=Path, help="a multirun directory, or run directories")
    parser.add_argument("--out", type=Path, default=None, help="where to write compare.{csv,md,png}")
    parser.add_argument(
        "--log",
        action="store_true",
        help="also attach compare.{csv,md,png} to every compared run's trackers (W&B, TensorBoard, MLflow)",
    )
    args = parser.parse_args(argv)
    result = compare(args.paths, args.out)
    table = Table(title=f"{len(result.runs)} runs")
    columns = list(dict.fromkeys(k for row in result.rows for k in row))
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "strategy") else "right")
    for row in result.rows:
        table.add_row(*(row.get(c, "-") for c in columns), style="red" if row["diverged"] != "no" else None)
    console = Console(highlight=False)
    if not console.is_terminal:  # logs and pipes: no wrapping at 80 columns
        console = Console(highlight=False, width=240)
    console.print(table)
    for failure in runless_failures(args.paths):  # from the sweep's summary.csv
        console.print(
            f"trial {failure['trial']} ({failure['overrides']}) has no run: {failure['status']}", soft_wrap=True
        )
    for path in result.files:
        console.print(f"wrote {path}", soft_wrap=True)
    if args.log:
        from framework.cli.compare import log_to_trackers

        for run_dir, names in log_to_trackers(result).items():
            console.print(f"logged to {', '.join(names) or 'no tracker'}: {run_dir}", soft_wrap=True)
