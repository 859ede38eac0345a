"""The end of every multirun: one table over its trials, printed and saved as summary.csv / summary.md.

A Hydra callback (`hydra.callbacks.plait_sweep` in conf/train.yaml), so it works with every launcher
(basic, joblib, submitit) and sweeper (basic, Optuna). It runs in the launching process and reads only
the trials' directories, because trials may have run in other processes or on other machines:

    <sweep>/<n>/.hydra/overrides.yaml   the trial's overrides (Hydra)
    <sweep>/<n>/result.json             status (ok, or pruned: stopped early by callback=median_stop),
                                        objective, best objective, where its loggers keep the run
                                        (each logger's `run_location()`), written by the trial
    <sweep>/<n>/FAILED                  the error of a failed trial (framework.cli.trials)

A trial with neither file (killed, or never started) counts as failed; `plait sweep resume` re-runs those.
When any trial failed, `plait train -m` exits with code 1 after the summary (FAILED_EXIT_CODE).

`on_multirun_start` also tells the trials how many of them share this machine (PLAIT_CONCURRENT_TRIALS,
from the launcher's n_jobs), so the thread policy gives each its share of the cores.

Trials alike but for their seeds are aggregated in summary_groups.csv / .md (framework.cli.seed_groups).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, cast

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from framework.engine.monitor import lower_is_better

RESULT_FILE = "result.json"
SWEEP_CONFIG = "multirun.yaml"
REJECTED_PREFIX = "rejected_"  # trials of values that could not be composed (record_rejected)
FAILED_FILE = "FAILED"
CONCURRENT_ENV = "PLAIT_CONCURRENT_TRIALS"
FAILED_EXIT_CODE = 1
COLUMNS = ("trial", "overrides", "status", "objective", "best", "run_dir", "logged")
LAST: dict[str, Any] = {"failed": 0, "rejected": []}  # the last summary's findings (read by the CLI); rejected:
# (override, error) of sweep values that could not be composed, recorded as failed trials (framework.cli.hydra_app)


def best_value(rows: list[dict[str, Any]], objective: str) -> float | None:
    """The best value `objective` reached over a run's logged evaluations."""
    values = [float(r[objective]) for r in rows if isinstance(r.get(objective), (int, float))]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return min(values) if lower_is_better(objective) else max(values)


def write_result(
    run_dir: Path,
    objective_name: str,
    objective: float | None,
    history: list[dict[str, Any]],
    logged: dict[str, str] | None = None,
    status: str = "ok",
) -> None:
    """Record a finished trial for the sweep summary (framework.cli.trials, in a multirun).

    `logged`: logger name -> where it keeps the run (its `run_location()`), shown in the summary.
    `status`: ok, or why a callback stopped it early (`pruned`).
    """
    payload = {
        "status": status,
        "objective_name": objective_name,
        "objective": objective,
        "best": best_value(history, objective_name),
        "logged": dict(logged or {}),
        "concurrent_trials": int(os.environ.get(CONCURRENT_ENV, "1")),
    }
    (run_dir / RESULT_FILE).write_text(json.dumps(payload, indent=1) + "\n")


def _overrides(run_dir: Path) -> str:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return ""
    return " ".join(str(o) for o in cast(list[Any], OmegaConf.load(path)))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


def trial_row(run_dir: Path, trial: str) -> dict[str, str]:
    """One row of the table from a trial's directory."""
    result = json.loads((run_dir / RESULT_FILE).read_text()) if (run_dir / RESULT_FILE).is_file() else None
    if (run_dir / FAILED_FILE).is_file():
        lines = (run_dir / FAILED_FILE).read_text().strip().splitlines()
        status = "failed: " + (lines[-1][:120] if lines else "")
    elif result is None:
        status = "failed: no result (killed or never started)"
    else:
        status = result["status"]
    result = result or {}
    return {
        "trial": trial,
        "overrides": _overrides(run_dir),
        "status": status,
        "objective": _fmt(result.get("objective")),
        "best": _fmt(result.get("best")),
        "run_dir": str(run_dir),
        "logged": "; ".join(f"{name}: {where}" for name, where in result.get("logged", {}).items()),
    }


def trial_dirs(sweep_dir: Path) -> list[tuple[str, Path]]:
    """(trial, directory) of every trial Hydra started under `sweep_dir`, in job order."""
    found = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")]
    found = [p for p in found if p != sweep_dir]
    key = [[(0, int(s), "") if s.isdigit() else (1, 0, s) for s in p.relative_to(sweep_dir).parts] for p in found]
    ordered = [p for _, p in sorted(zip(key, found, strict=True))]
    return [(str(p.relative_to(sweep_dir)), p) for p in ordered]


def markdown(rows: list[dict[str, str]]) -> str:
    """The table as GitHub markdown."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(r[c].replace("|", "\\|") for c in COLUMNS) + " |" for r in rows]
    return "\n".join(out) + "\n"


def summarize(sweep_dir: Path) -> list[dict[str, str]]:
    """Build, print and save (summary.csv, summary.md) the table of the sweep in `sweep_dir`."""
    rows = [trial_row(path, trial) for trial, path in trial_dirs(sweep_dir)]
    if len(rows) > 1:  # show what the trials vary; overrides every trial shares are noise here
        common = set.intersection(*(set(r["overrides"].split()) for r in rows))
        for r in rows:
            r["overrides"] = " ".join(o for o in r["overrides"].split() if o not in common)
    with open(sweep_dir / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    text = markdown(rows)
    (sweep_dir / "summary.md").write_text(text)
    failed = sum(r["status"].startswith("failed") for r in rows)
    print(f"\nsweep summary ({sweep_dir}):\n{text}", end="")
    if failed:
        print(f"{failed} of {len(rows)} trials failed (see FAILED in their directories)", file=sys.stderr)
    LAST.update(failed=failed, rows=rows)
    from framework.cli.seed_groups import summarize_seeds

    summarize_seeds(sweep_dir, rows)  # summary_groups.csv / .md: mean, std and 95% CI over seeds per setting
    return rows


def record_rejected(sweep_dir: Path, rejected: list[tuple[str, str]]) -> None:
    """Give every sweep value that could not be composed a failed trial directory, so the summary lists it."""
    for i, (override, error) in enumerate(rejected):
        trial = sweep_dir / f"{REJECTED_PREFIX}{i}"
        (trial / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create([override]), trial / ".hydra" / "overrides.yaml")
        (trial / FAILED_FILE).write_text(f"{error}\n")


def concurrent_trials(launcher: Any) -> int:
    """How many trials a launcher runs at once on this machine (joblib's n_jobs; 1 for the others)."""
    n_jobs = launcher.get("n_jobs") if isinstance(launcher, DictConfig) else None
    if not isinstance(n_jobs, int) or n_jobs == 0:
        return 1
    return (os.cpu_count() or 1) if n_jobs < 0 else n_jobs


class SweepSummary(Callback):
    """Hydra callback: shares the cores between parallel trials and writes the sweep summary at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        LAST.update(failed=0, rows=[])
        os.environ[CONCURRENT_ENV] = str(concurrent_trials(config.hydra.get("launcher")))
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # the sweep's config, for every sweeper (the basic one
        OmegaConf.save(config, sweep_dir / SWEEP_CONFIG)  # writes it too): `plait sweep resume` reads it
        record_rejected(sweep_dir, LAST.get("rejected", []))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            summarize(sweep_dir)
