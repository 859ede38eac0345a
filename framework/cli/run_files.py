"""What a finished run directory holds, read without torch: its resolved config (flattened), its overrides and
its logged metrics. `plait compare`, `plait describe <run>` and the seed groups read runs through here."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, cast

CONFIG_FILE = "config.yaml"  # the resolved config (framework.engine.run)
METRICS_FILE = "metrics.jsonl"  # the jsonl logger's rows
OVERRIDES_FILE = ".hydra/overrides.yaml"
NOT_SETTINGS = ("logger.", "callback.")  # how a run is watched, not what it computes: never tells runs apart


def metric_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every row the jsonl logger wrote ([] without the file)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def final_metrics(rows: list[dict[str, Any]], objective: str | None) -> dict[str, float]:
    """The last evaluation's finite metrics: the last row holding `objective` (else a `val/` metric), no `step`."""
    evaluations = [r for r in rows if (objective in r if objective else any(k.startswith("val/") for k in r))]
    if not evaluations:
        return {}
    last = evaluations[-1]
    numbers = {k: float(v) for k, v in last.items() if k != "step" and isinstance(v, (int, float))}
    return {k: v for k, v in numbers.items() if math.isfinite(v)}


def load_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved config as plain containers ({} without config.yaml)."""
    from omegaconf import OmegaConf

    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    return cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(path)))


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted keys (`trainer.seed`) to leaf values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differing_keys(flats: list[dict[str, Any]], *, shared_only: bool = True) -> list[str]:
    """Keys whose values are not all equal (logger/callback settings and `name` left out): among the keys every
    mapping holds, or with `shared_only=False` among all (a key one mapping lacks then differs)."""
    if not flats:
        return []
    keys = set.intersection(*map(set, flats)) if shared_only else set.union(*map(set, flats))
    differ = [k for k in sorted(keys) if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]
    return [k for k in differ if not k.startswith(NOT_SETTINGS) and k != "name"]


def run_names(run_dirs: list[Path]) -> list[str]:
    """Short names for runs: their paths below the directory they share (`0`, `1` in a sweep)."""
    resolved = [d.resolve() for d in run_dirs]
    base = Path(os.path.commonpath(resolved)) if len(resolved) > 1 else resolved[0].parent if resolved else Path()
    return [str(d.relative_to(base)) if d != base else d.name for d in resolved]


def run_overrides(run_dir: Path) -> list[str]:
    """The overrides Hydra recorded for the run ([] when it has none)."""
    from omegaconf import OmegaConf

    path = run_dir / OVERRIDES_FILE
    return [str(o) for o in cast(list[Any], OmegaConf.load(path))] if path.is_file() else []
