"""What a finished run directory holds, read without torch: its resolved config (flattened), its overrides and
its logged metrics. `plait compare`, `plait describe <run>` and the seed groups read runs through here."""

from __future__ import annotations

import json
import math
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


def differing_keys(flats: list[dict[str, Any]]) -> list[str]:
    """Keys every mapping holds whose values are not all equal (logger/callback settings and `name` left out)."""
    if not flats:
        return []
    shared = set.intersection(*(set(f) for f in flats))
    differ = [k for k in sorted(shared) if len({json.dumps(f[k], sort_keys=True, default=str) for f in flats}) > 1]
    return [k for k in differ if not k.startswith(NOT_SETTINGS) and k != "name"]


def run_overrides(run_dir: Path) -> list[str]:
    """The overrides Hydra recorded for the run ([] when it has none)."""
    from omegaconf import OmegaConf

    path = run_dir / OVERRIDES_FILE
    return [str(o) for o in cast(list[Any], OmegaConf.load(path))] if path.is_file() else []
