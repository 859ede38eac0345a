"""Results over seeds: runs grouped by everything they were run with except their seeds, each group with the
n, mean, sample standard deviation, min, max and 95% confidence interval of the objective and the final metrics,
ranked by the objective's mean (lower first for a loss-like objective, else higher first).

A setting whose key ends in `seed` (`trainer.seed`, `task.seed`, ...) is a seed. The sweep summary groups a
multirun's trials by their overrides; `plait compare` groups runs by the config keys that differ between them.
The values are each run's last evaluation in metrics.jsonl. Written as `<stem>.csv` / `<stem>.md` when some
group holds more than one run; a multirun whose trials differ only by seed is one group.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from framework.cli.run_files import (
    differing_keys,
    final_metrics,
    flatten,
    load_config,
    metric_rows,
    run_names,
    run_overrides,
)
from framework.cli.sample_stats import Spread
from framework.engine.monitor import lower_is_better
from framework.secrets import override_key

SEED = "seed"
SAME_SETTINGS = "(all)"  # the label of a group whose runs differ only by seed
NUMBERS = ("mean", "std", "min", "max", "ci95_low", "ci95_high")
COLUMNS = ("rank", "group", "metric", "n", *NUMBERS, "runs", "dropped")


def is_seed(key: str) -> bool:
    """True for a key whose last part is `seed` (trainer.seed, task.seed)."""
    return key.rsplit(".", 1)[-1] == SEED


@dataclass
class RunValues:
    """One run as grouping sees it: its name, its settings (`key=value`, seeds included) and final metrics."""

    name: str
    settings: list[str]
    metrics: dict[str, float] | None  # None: the run does not count (failed, diverged, pruned)


@dataclass
class Group:
    """Runs alike but for their seeds, and each metric's spread over them."""

    label: str
    runs: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    spreads: dict[str, Spread] = field(default_factory=dict)


def group_runs(runs: list[RunValues], objective: str) -> list[Group]:
    """Runs grouped by their settings without seeds, ranked by the mean of `objective` (groups without it last)."""
    unseeded = [[s for s in r.settings if not is_seed(override_key(s) or "")] for r in runs]
    common = set.intersection(*(set(s) for s in unseeded)) if unseeded else set()
    groups: dict[str, tuple[Group, list[dict[str, float]]]] = {}
    for run, settings in zip(runs, unseeded, strict=True):
        label = " ".join(s for s in settings if s not in common) or SAME_SETTINGS
        group, members = groups.setdefault(label, (Group(label), []))
        if run.metrics is None:
            group.dropped.append(run.name)
        else:
            group.runs.append(run.name)
            members.append(run.metrics)
    for group, members in groups.values():
        for name in [objective, *sorted({k for m in members for k in m} - {objective})]:
            if values := [m[name] for m in members if name in m]:
                group.spreads[name] = Spread.of(values)
    sign = 1.0 if lower_is_better(objective) else -1.0

    def rank(group: Group) -> tuple[bool, float]:
        spread = group.spreads.get(objective)
        return spread is None, sign * spread.mean if spread is not None else 0.0

    return sorted((group for group, _ in groups.values()), key=rank)


def _numbers(spread: Spread | None) -> dict[str, float | None]:
    if spread is None:
        return {}
    low, high = spread.ci95 or (None, None)
    return {
        "mean": spread.mean,
        "std": spread.std,
        "min": spread.min,
        "max": spread.max,
        "ci95_low": low,
        "ci95_high": high,
    }


def rows(groups: list[Group], fmt: Callable[[float], str] = repr) -> list[dict[str, str]]:
    """One row per group and metric (a group with no value counted: one row, n 0), numbers written by `fmt`
    (full precision by default)."""
    out = []
    for rank, group in enumerate(groups, 1):
        members = {"runs": " ".join(group.runs), "dropped": " ".join(group.dropped)}
        spreads: list[tuple[str, Spread | None]] = [*group.spreads.items()] or [("-", None)]
        for metric, spread in spreads:
            numbers = _numbers(spread)
            cells = {k: "" if (v := numbers.get(k)) is None else fmt(v) for k in NUMBERS}
            head = {"rank": str(rank), "group": group.label, "metric": metric, "n": str(spread.n if spread else 0)}
            out.append(head | cells | members)
    return out


def markdown(groups: list[Group]) -> str:
    """The groups as GitHub markdown, numbers to 4 significant digits."""
    table = rows(groups, fmt=lambda v: f"{v:.4g}")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[c].replace("|", "\\|") or "-" for c in COLUMNS) + " |" for r in table]
    return "\n".join(lines) + "\n"


def repeated(groups: list[Group]) -> bool:
    """True when some group holds more than one run: something to aggregate."""
    return any(len(g.runs) + len(g.dropped) > 1 for g in groups)


def write(groups: list[Group], stem: Path) -> list[Path]:
    """`<stem>.csv` and `<stem>.md` when some group holds more than one run (else nothing to aggregate: [])."""
    if not repeated(groups):
        return []
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows(groups))
    md_path.write_text(markdown(groups))
    return [csv_path, md_path]


def _objective(run_dirs: list[Path]) -> str:
    return next((str(c["objective"]) for d in run_dirs if (c := load_config(d)).get("objective")), "val/loss")


def _values(run_dir: Path, objective: str) -> dict[str, float] | None:
    return final_metrics(metric_rows(run_dir), objective) or None


def summarize_seeds(sweep_dir: Path, trials: list[dict[str, str]]) -> list[Group]:
    """The sweep summary's groups (`trials`: its rows, with trial, run_dir and status), written beside it as
    summary_groups.csv / .md and printed; trials that did not end `ok` are listed as dropped."""
    dirs = [Path(t["run_dir"]) for t in trials]
    objective = _objective(dirs)
    runs = [
        RunValues(t["trial"], run_overrides(d), _values(d, objective) if t["status"] == "ok" else None)
        for t, d in zip(trials, dirs, strict=True)
    ]
    groups = group_runs(runs, objective)
    if write(groups, sweep_dir / "summary_groups"):
        print(f"\nover seeds ({objective} first; groups ranked by its mean):\n{markdown(groups)}", end="")
    return groups


def config_groups(run_dirs: list[Path], dropped: set[Path]) -> tuple[list[Group], str]:
    """`plait compare`'s groups: runs grouped by the config keys that differ between them, seeds aside; the runs
    in `dropped` (failed, diverged) are listed but not counted. Returns the groups and the objective."""
    if not run_dirs:
        return [], "val/loss"
    flats = [flatten(load_config(d)) for d in run_dirs]
    keys = differing_keys(flats, shared_only=False)  # a key only some runs have tells them apart too
    objective = _objective(run_dirs)
    runs = [
        RunValues(name, [f"{k}={flat[k]}" for k in keys if k in flat], None if d in dropped else _values(d, objective))
        for name, d, flat in zip(run_names(run_dirs), run_dirs, flats, strict=True)
    ]
    return group_runs(runs, objective), objective
