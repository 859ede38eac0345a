"""Reading back what the loggers wrote: metrics.jsonl, TensorBoard event files, the MLflow store, samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Series = dict[str, list[tuple[int, float]]]  # metric -> [(step, value)] in logging order


def jsonl_series(run_dir: Path) -> Series:
    """metrics.jsonl as series."""
    out: Series = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for key, value in row.items():
            if key != "step":
                out.setdefault(key, []).append((row["step"], value))
    return out


def tensorboard_events(run_dir: Path) -> Any:
    """TensorBoard's (legacy) EventAccumulator over the run's event files, everything kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def tensorboard_series(run_dir: Path) -> Series:
    """Every scalar of the event files (written as double-precision tensors), in file order."""
    from tensorboard.util import tensor_util

    acc = tensorboard_events(run_dir)
    out: Series = {}
    for tag in acc.Tags()["tensors"]:
        for event in acc.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if value.dtype.kind == "f":
                out.setdefault(tag, []).append((event.step, float(value)))
    return out


def mlflow_run(run_dir: Path) -> tuple[Any, Any]:
    """(client, the one run) of the run directory's MLflow store, found with `search_runs`."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{(run_dir / 'mlruns' / 'mlflow.db').resolve()}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


def mlflow_series(run_dir: Path) -> Series:
    """Every metric's history (`get_metric_history`), ordered by step."""
    client, run = mlflow_run(run_dir)
    return {
        key: [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]
        for key in run.data.metrics
    }


def samples_rows(run_dir: Path) -> list[dict[str, Any]]:
    """samples.jsonl: one {"step", "name", "rows"} object per evaluation."""
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
