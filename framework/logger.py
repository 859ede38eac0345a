"""The logger interface: a callback that also receives metrics, validation samples and files of the run.

`flat_config` is the run config as trackers record parameters: flattened, credentials removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.callback import Callback, TrainState
from framework.secrets import scrub_config

Param = str | int | float | bool


class Logger(Callback):
    """Receives `{name: value}` metrics (names like `train/loss`, `val/accuracy`) at logging steps.

    Every method but `log_metrics` has a no-op default, so a logger implements only what its tracker shows.
    """

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Record metrics for `step`."""

    def log_samples(self, name: str, rows: list[dict[str, str]], step: int) -> None:
        """Record a small table of examples at `step` (after each evaluation: `val/samples`, the task's validation
        examples with the model's outputs, e.g. source / reference / output); the same examples every time."""

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Keep a copy of the file `path` with the run, as `name` (a relative path; default: the file's name).

        Called between `on_fit_start` and `close`: the core hands over `config.yaml` at the start,
        `summary.json` at the end and, with `plait compare --log`, the comparison's files.
        """

    def log_summary(self, summary: dict[str, float | str]) -> None:
        """Record final values (run directory, last step, the final evaluation's metrics)."""

    def close(self, state: TrainState, status: str = "finished") -> None:
        """Flush and release resources; `status` is finished, failed (diverged or crashed) or interrupted (preempted).

        Called right after `on_run_end`, which has the finer status (framework/callback.py)."""

    def run_location(self) -> str | None:
        """Where this logger keeps the run's record (a folder, a file or a URL), or None (the default).

        Asked after `close`, so remember it once known; a sweep's summary lists it for each trial.
        """
        return None


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Param]:
    """`config` as `{"a.b.c": value}` parameters without credential-looking keys; lists and null as JSON text."""
    flat: dict[str, Param] = {}
    for key, value in scrub_config(config).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)
    return flat
