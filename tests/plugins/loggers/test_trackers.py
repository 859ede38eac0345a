"""TensorBoard and MLflow beside console, jsonl and W&B: the same values as metrics.jsonl, also across a kill -9
and resume; the config as parameters (credentials left out) and in TensorBoard's HParams; the files the core
hands over; a clear error naming the extra when a tracker is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from trackers import jsonl_series, mlflow_run, mlflow_series, tensorboard_events, tensorboard_series

from framework.cli.compare import compare, log_to_trackers
from framework.engine.checkpoint import FAULT_ENV
from framework.errors import PlaitError
from framework.testing import run_quick

ROOT = Path(__file__).resolve().parents[3]
ALL = "logger=[console,jsonl,tensorboard,mlflow,wandb]"
STEPS = ["trainer.max_steps=8", "trainer.log_every_n_steps=1", "trainer.eval_every_n_steps=2"]


def _assert_exactly_jsonl(run_dir: Path) -> None:
    expected = jsonl_series(run_dir)
    assert [s for s, _ in expected["train/loss"]] == list(range(1, 9))  # every step, once
    assert [s for s, _ in expected["val/accuracy"]] == [2, 4, 6, 8]
    assert tensorboard_series(run_dir) == expected
    assert mlflow_series(run_dir) == expected


def test_every_tracker_holds_exactly_what_metrics_jsonl_holds(tmp_path: Path) -> None:
    run_quick([ALL, *STEPS, "trainer.checkpoint_every_n_steps=4"], tmp_path)
    _assert_exactly_jsonl(tmp_path)
    client, run = mlflow_run(tmp_path)
    assert run.data.params["model._name_"] == "transformer_encoder" and run.data.params["trainer.max_steps"] == "8"
    assert run.info.status == "FINISHED" and run.info.run_name == f"{tmp_path.parent.name}/{tmp_path.name}"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "summary.json"} <= artifacts
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["step"] == 8 and summary["val/accuracy"] == jsonl_series(tmp_path)["val/accuracy"][-1][1]
    hparams = tensorboard_events(tmp_path).PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"val/accuracy" in hparams["_hparams_/experiment"]  # the objective is the HParams metric
    assert b"trainer.max_steps" in hparams["_hparams_/session_start_info"]
    offline = next((tmp_path / "wandb").glob("offline-run-*"))
    assert (offline / "files" / "config.yaml").is_file() and (offline / "files" / "summary.json").is_file()

    # `plait compare --log`: the figure and tables join the run's records, in the same MLflow run
    assert log_to_trackers(compare([tmp_path])) == {tmp_path: ["tensorboard", "mlflow", "wandb"]}
    client, again = mlflow_run(tmp_path)
    assert again.info.run_id == run.info.run_id
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "compare")}
    assert logged == {"compare/compare.csv", "compare/compare.md", "compare/compare.png"}
    images = tensorboard_events(tmp_path).Tags()["images"]
    assert "artifacts/compare/compare.png" in images
    assert tensorboard_series(tmp_path) == jsonl_series(tmp_path)  # reopening added no step


# Trains into argv[1] with the overrides in argv[2] (a fresh process, so that a kill is a real one).
TRAIN = """
import json, sys
from pathlib import Path
from framework.engine.run import train
from framework.testing import compose

train(compose(json.loads(sys.argv[2])), Path(sys.argv[1]))
"""


def _train(run_dir: Path, overrides: list[str], fault: str | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    env.pop(FAULT_ENV, None)
    env.pop("WANDB_SERVICE", None)  # each process its own W&B service, which dies with it (a killed run's is gone)
    if fault:
        env[FAULT_ENV] = fault
    args = [sys.executable, "-c", textwrap.dedent(TRAIN), str(run_dir), json.dumps(overrides)]
    proc = subprocess.run(args, env=env, timeout=600, capture_output=True, text=True)
    assert proc.returncode in (0, 137), proc.stderr[-3000:]
    return proc.returncode


@pytest.mark.slow
def test_kill_9_and_resume_repeats_and_loses_no_step_in_any_tracker(tmp_path: Path) -> None:
    overrides = [ALL, *STEPS, "trainer.checkpoint_every_n_steps=4"]
    # killed (exit 137, as kill -9) inside the save of step 8: steps 5..8 were logged, the checkpoint is step 4's
    assert _train(tmp_path, overrides, fault="after_temp_write:8") == 137
    assert max(s for s, _ in tensorboard_series(tmp_path)["train/loss"]) == 8  # the killed attempt reached step 8
    assert max(s for s, _ in mlflow_series(tmp_path)["train/loss"]) == 8
    _, killed = mlflow_run(tmp_path)
    assert _train(tmp_path, [*overrides, "trainer.resume=auto"]) == 0
    _assert_exactly_jsonl(tmp_path)  # steps 5..8 once each, with the resumed attempt's values
    _, resumed = mlflow_run(tmp_path)
    assert resumed.info.run_id == killed.info.run_id and resumed.info.status == "FINISHED"  # the same MLflow run
    assert len(list((tmp_path / "tensorboard").glob("*tfevents*"))) == 2  # the same folder, one file per attempt


def test_config_params_leave_credentials_out(tmp_path: Path) -> None:
    from plugins.loggers.mlflow_logger import MlflowLogger, MlflowLoggerConfig

    config = {"trainer": {"max_steps": 4}, "extra": {"api_key": "SENTINEL", "tokens": [1, 2], "x": None, "odd:key": 1}}
    logger = MlflowLogger(MlflowLoggerConfig(), tmp_path, config)
    from framework.callback import TrainState

    logger.on_fit_start(TrainState(run_dir=tmp_path))
    logger.close(TrainState(run_dir=tmp_path))
    _, run = mlflow_run(tmp_path)
    assert run.data.params == {
        "trainer.max_steps": "4",
        "extra.tokens": "[1, 2]",
        "extra.x": "null",
        "extra.odd_key": "1",
    }
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"SENTINEL" in p.read_bytes()]


@pytest.mark.parametrize(("logger", "module"), [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_a_missing_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logger: str, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import <module>` now fails as if it were not installed
    with pytest.raises(
        PlaitError, match=rf"logger={logger} needs the '{module}' package.*pip install 'plait\[{logger}\]'"
    ):
        run_quick([f"logger=[jsonl,{logger}]"], tmp_path)
    assert not list(tmp_path.rglob("checkpoints/*")), "it fails before training"


@pytest.mark.parametrize("module", ["sqlalchemy", "alembic"])
def test_the_local_mlflow_store_names_the_extra_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    from framework.callback import TrainState
    from plugins.loggers.mlflow_logger import MlflowLoggerConfig, build_mlflow

    logger = build_mlflow(MlflowLoggerConfig(), run_dir=tmp_path, config={})
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(PlaitError, match=rf"'{module}' package.*pip install 'plait\[mlflow\]'"):
        logger.on_fit_start(TrainState(run_dir=tmp_path))


@pytest.mark.slow
def test_a_sweeps_parallel_trials_share_one_mlflow_experiment_named_after_the_sweep(tmp_path: Path) -> None:
    sweep_dir, store = tmp_path / "sweep", tmp_path / "shared" / "mlflow.db"  # a new store both trials open at once
    tiny = ["trainer.device=cpu", "trainer.max_steps=3", "trainer.batch_size=8", "trainer.eval_every_n_steps=3"]
    cmd = [sys.executable, "-m", "framework.cli", "train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    cmd += [*tiny, "task.demo_size=400", "model.d_model=32", "optimizer.lr=1e-3,3e-3"]
    cmd += ["logger=[jsonl,tensorboard,mlflow]", f"logger.mlflow.tracking_uri='sqlite:///{store}'"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("WANDB_SERVICE", None)
    (tmp_path / "cwd").mkdir()
    proc = subprocess.run(
        [*cmd, f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path / "cwd",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("sweep")  # the sweep's `group`, filled in by framework.cli.hydra_app
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.001", "0.003"]
    assert {r.data.tags["plait.group"] for r in runs} == {"sweep"} and {r.info.status for r in runs} == {"FINISHED"}
    assert experiment.artifact_location == (store.parent / "artifacts").as_uri()  # beside the store, not in the cwd
    assert list((tmp_path / "cwd").iterdir()) == []
    for trial in "01":  # each trial's TensorBoard folder and MLflow run, listed in the sweep's summary
        logged = json.loads((sweep_dir / trial / "result.json").read_text())["logged"]
        assert logged["tensorboard"] == str(sweep_dir / trial / "tensorboard")
        assert logged["mlflow"].startswith(f"sqlite:///{store} (run ")
