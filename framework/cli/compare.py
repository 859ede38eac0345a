"""`plait compare`: one table and one figure over finished runs (a sweep directory or several run directories).

Each run directory holds `config.yaml` (the resolved config, written by framework.engine.run) and
`metrics.jsonl`. The table gives strategy, throughput (and its ratio to the fp32 run, or the
first run), the fastest window's throughput (least disturbed by other load on a shared machine),
memory, final losses and task metric, skipped steps and whether the run diverged.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.cli.run_files import CONFIG_FILE, differing_keys, flatten, load_config, metric_rows
from framework.cli.run_provenance import provenance_rows
from framework.cli.seed_groups import Group, config_groups
from framework.cli.seed_groups import write as write_groups
from framework.engine.model_summary import read_summary
from framework.engine.numerics import REPORT_FILE
from framework.errors import PlaitError

OUTPUT_NAMES = ("compare.csv", "compare.md", "compare.png")


@dataclass
class RunSummary:
    """What one run's files say, reduced to the numbers the table and the figure show."""

    run_dir: Path
    label: str
    precision: str
    steps: int
    max_steps: int
    unit: str  # tokens | samples
    throughput: float | None  # median units/s over logging windows after the first (warm-up)
    throughput_best: float | None  # fastest logging window: the least disturbed by other load on a shared machine
    peak_memory_mb: float | None
    state_mb: float | None  # weights, optimizer and precision state
    train_loss: float | None
    val_loss: float | None
    objective_name: str
    objective: float | None
    skipped_steps: float
    diverged: bool
    failed: bool
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, train loss)
    model: dict[str, Any] | None = None  # model_summary.json: parameters, trainable, measured FLOPs per token


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories (holding config.yaml) among `paths` and below them, in sweep order."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise PlaitError(f"{path} is not a directory; pass a sweep directory (multirun/...) or run directories")
        candidates = [path] if (path / CONFIG_FILE).is_file() else sorted(
            (p.parent for p in path.rglob(CONFIG_FILE) if ".hydra" not in p.parts and "checkpoints" not in p.parts),
            key=lambda p: [int(s) if s.isdigit() else s for s in p.relative_to(path).parts],
        )  # fmt: skip
        found += [c for c in candidates if c not in found]
    if not found:
        raise PlaitError(f"no run found under {', '.join(map(str, paths))} (a run directory holds {CONFIG_FILE})")
    return found


def _last(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if key in r]
    return float(values[-1]) if values else None


def summarize(run_dir: Path) -> RunSummary:
    """Read one run's config.yaml and metrics.jsonl."""
    cfg = load_config(run_dir)
    rows = metric_rows(run_dir)
    train = [r for r in rows if "train/loss" in r]
    unit = next((k.split("/")[1].removesuffix("_per_s") for r in train for k in r if k.endswith("_per_s")), "samples")
    speeds = [r[f"train/{unit}_per_s"] for r in train if f"train/{unit}_per_s" in r]
    peaks = [r["sys/peak_memory_mb"] for r in rows if "sys/peak_memory_mb" in r]
    objective_name = str(cfg.get("objective") or "val/loss")
    curve = [(int(r["step"]), float(r["train/loss"])) for r in train]
    diverged = (run_dir / REPORT_FILE).exists() or any("train/diverged" in r for r in rows)
    diverged = diverged or any(not math.isfinite(loss) for _, loss in curve)
    return RunSummary(
        run_dir=run_dir,
        label=str(cfg.get("precision", {}).get("_name_", "?")),
        precision=str(cfg.get("precision", {}).get("_name_", "?")),
        steps=max((int(r["step"]) for r in rows), default=0),
        max_steps=int(cfg.get("trainer", {}).get("max_steps", 0)),
        unit=unit,
        throughput=statistics.median(speeds[1:] or speeds) if speeds else None,
        throughput_best=max(speeds[1:] or speeds) if speeds else None,
        peak_memory_mb=max(peaks) if peaks else None,
        state_mb=_last(rows, "sys/state_mb"),
        train_loss=curve[-1][1] if curve else None,
        val_loss=_last(rows, "val/loss"),
        objective_name=objective_name,
        objective=_last(rows, objective_name),
        skipped_steps=_last(rows, "precision/skipped_steps") or 0.0,
        diverged=diverged,
        failed=(run_dir / "FAILED").exists(),
        curve=curve,
        model=read_summary(run_dir),
    )


def disambiguate(runs: list[RunSummary]) -> None:
    """Runs sharing a strategy get the config values that tell them apart (else their directory) in the label."""
    for name in {r.precision for r in runs}:
        same = [r for r in runs if r.precision == name]
        if len(same) < 2:
            continue
        flat = [flatten(load_config(r.run_dir)) for r in same]
        differ = differing_keys(flat)
        for run, values in zip(same, flat, strict=True):
            extra = " ".join(f"{k.removeprefix('precision.')}={values[k]}" for k in differ)
            run.label = f"{name} {extra}" if extra else f"{name} ({run.run_dir.name})"


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 10 ** (digits - 1) else f"{value:.{digits}g}"


def reference_precisions() -> set[str]:
    """Precisions that declare themselves the baseline of comparisons (fp32 among the built-ins)."""
    from framework.capabilities import REFERENCE_PRECISION, with_capability
    from framework.kinds import PRECISIONS
    from framework.plugins import load_plugins

    load_plugins()
    return set(with_capability(PRECISIONS, REFERENCE_PRECISION))


def table(runs: list[RunSummary]) -> list[dict[str, str]]:
    """The comparison as rows of column -> text; throughput ratios against the reference precision (or the first run)."""
    reference = reference_precisions()
    base = next((r for r in runs if r.precision in reference and r.throughput), runs[0])
    rows = []
    for r in runs:
        ratio = r.throughput / base.throughput if r.throughput and base.throughput else None
        rows.append(
            {
                "run": r.label,
                "strategy": r.precision,
                "steps": f"{r.steps}/{r.max_steps}",
                f"{r.unit}/s": _fmt(r.throughput),
                f"speed vs {base.label}": "-" if ratio is None else f"{ratio:.2f}x",
                f"best {r.unit}/s": _fmt(r.throughput_best),
                "peak MB": _fmt(r.peak_memory_mb),
                "state MB": _fmt(r.state_mb, 3),
                "train loss": _fmt(r.train_loss),
                "val loss": _fmt(r.val_loss),
                r.objective_name: _fmt(r.objective),
                "skipped steps": f"{r.skipped_steps:.0f}",
                "diverged": "yes" if r.diverged else ("failed" if r.failed else "no"),
            }
            | model_columns(r.model)
        )
    return rows


def model_columns(summary: dict[str, Any] | None) -> dict[str, str]:
    """The model summary's columns: parameters, trainable ones, measured training FLOPs per token (none: no columns)."""
    if summary is None:
        return {}
    flops = summary.get("flops_per_token")
    return {
        "params": f"{summary['parameters']:,}",
        "trainable": f"{summary['trainable']:,}",
        "FLOPs/token": "-" if flops is None else f"{flops:.4g}",
    }


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    """The table as CSV."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="-")
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[dict[str, str]]) -> str:
    """The table as GitHub markdown."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "-") for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot(runs: list[RunSummary], path: Path) -> None:
    """Loss curves overlaid, and throughput and memory bars, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_speed, ax_mem) = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [2, 1, 1]})
    for r in runs:
        if r.curve:
            steps, losses = zip(*r.curve, strict=True)
            ax_loss.plot(steps, losses, label=r.label + (" (diverged)" if r.diverged else ""), linewidth=1.4)
    ax_loss.set(title="training loss", xlabel="step", ylabel="loss")
    ax_loss.grid(alpha=0.3)
    if any(r.curve for r in runs):
        ax_loss.legend(fontsize=8)
    labels = [r.label for r in runs]
    positions = range(len(runs))
    bars = ax_speed.barh(positions, [r.throughput or 0 for r in runs], color="tab:blue")
    ax_speed.bar_label(bars, labels=[_fmt(r.throughput) for r in runs], fontsize=8, padding=2)
    ax_speed.set(title=f"throughput ({runs[0].unit}/s)", yticks=list(positions), yticklabels=labels)
    ax_speed.margins(x=0.2)
    ax_speed.invert_yaxis()
    height = 0.4
    for offset, key, name in ((-height / 2, "peak_memory_mb", "peak"), (height / 2, "state_mb", "weights + state")):
        values = [getattr(r, key) or 0 for r in runs]
        bars = ax_mem.barh([p + offset for p in positions], [max(v, 1e-3) for v in values], height, label=name)
        ax_mem.bar_label(bars, labels=[_fmt(v, 3) for v in values], fontsize=7, padding=2)
    ax_mem.set(title="memory (MB, log scale)", yticks=list(positions), yticklabels=labels, xscale="log")
    ax_mem.margins(x=0.25)
    ax_mem.invert_yaxis()
    ax_mem.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class Comparison:
    """The runs compared, the table, and the files written; where the runs' code and configs differ; their groups
    over seeds (framework.cli.seed_groups), ranked by `objective`."""

    runs: list[RunSummary]
    rows: list[dict[str, str]]
    files: list[Path]
    provenance: list[dict[str, str]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    objective: str = ""


def runless_failures(paths: list[Path]) -> list[dict[str, str]]:
    """Rows of a sweep's summary.csv whose trial failed before it had a run to compare (no config.yaml)."""
    found = []
    for path in paths:
        summary = path / "summary.csv"
        if not summary.is_file():
            continue
        with open(summary, newline="") as fh:
            found += [
                row
                for row in csv.DictReader(fh)
                if not row["status"].startswith("ok") and not (Path(row["run_dir"]) / CONFIG_FILE).is_file()
            ]
    return found


def log_to_trackers(result: Comparison) -> dict[Path, list[str]]:
    """Attach the comparison's files (as `compare/<file>`) to each compared run's trackers, reattached at the run's
    last checkpoint (framework.engine.tracking); returns the loggers that took them, by run (none for a run
    without a checkpoint)."""
    from framework.engine.tracking import reopened_loggers

    logged: dict[Path, list[str]] = {}
    for run in result.runs:
        try:
            with reopened_loggers(run.run_dir) as loggers:
                for logger in loggers.values():
                    for path in result.files:
                        logger.log_artifact(path, f"compare/{path.name}")
                logged[run.run_dir] = list(loggers)
        except PlaitError:
            logged[run.run_dir] = []
    return logged


def compare(paths: list[Path], out_dir: Path | None = None) -> Comparison:
    """Summarize the runs under `paths`; write compare.csv, compare.md and compare.png into `out_dir` (and
    compare_groups.csv / .md when some runs differ only by seed).

    `out_dir` defaults to the single path given, else the runs' common parent directory.
    """
    runs = [summarize(d) for d in find_runs(paths)]
    disambiguate(runs)
    rows = table(runs)
    if out_dir is None:
        out_dir = paths[0] if len(paths) == 1 else Path(os.path.commonpath([p.resolve() for p in paths]))
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = (out_dir / name for name in OUTPUT_NAMES)
    write_csv(rows, csv_path)
    md_path.write_text(markdown(rows))
    plot(runs, png_path)
    dirs = [r.run_dir for r in runs]
    groups, objective = config_groups(dirs, dropped={r.run_dir for r in runs if r.failed or r.diverged})
    files = [csv_path, md_path, png_path, *write_groups(groups, out_dir / "compare_groups")]
    return Comparison(runs, rows, files, provenance_rows(dirs), groups, objective)
