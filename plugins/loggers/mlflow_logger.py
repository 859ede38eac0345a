"""MLflow logger: a local SQLite store in the run directory unless given a tracking server; resumes the same run.

The flattened config is the run's parameters (credentials left out), metrics go in one batch per logging
call, samples are JSON tables (MLflow's `log_table` format) and files are artifacts. A sweep's trials share
one experiment, named after the sweep, and carry its name in the `plait.group` tag. On resume the run's
metric history is cut back to the checkpoint's step, so no step is recorded twice (framework/logger.py).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from framework import ComponentConfig, Logger, TrainState, flat_config
from plugins.loggers.common import check_extra, import_extra
from plugins.loggers.mlflow_store import last_steps, local_store, prepare_sqlite, sqlite_file, trim_after

log = logging.getLogger(__name__)
MAX_PARAM_CHARS = 500  # longer parameter values are cut (the limit of older MLflow servers)
NOT_IN_NAMES = re.compile(r"[^\w\-. /]")  # MLflow names take letters, digits, _ - . space and /
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


@dataclass
class MlflowLoggerConfig(ComponentConfig):
    """Options of the MLflow logger. Server credentials come from the environment (MLFLOW_TRACKING_TOKEN, ...)."""

    tracking_uri: Optional[str] = None  # a server or store; null: $MLFLOW_TRACKING_URI, else SQLite in <run dir>/mlruns
    experiment_name: Optional[str] = None  # null: the sweep's name for a sweep's trials, else the config's `name`
    run_name: Optional[str] = None  # null: the run directory as <parent>/<name>
    group: Optional[str] = None  # group runs (a sweep sets this): the `plait.group` tag
    tags: dict[str, str] = field(default_factory=dict)  # extra run tags


class MlflowLogger(Logger):
    """Logs params, metrics, sample tables and artifacts to one MLflow run; its id is kept in checkpoints."""

    def __init__(self, cfg: MlflowLoggerConfig, run_dir: Path, config: dict[str, Any]) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.config = config
        self.run_id: str | None = None
        self.location: str | None = None
        self._client: Any = None
        self._recorded: dict[str, int] = {}  # on resume: the latest step each metric already has

    def on_fit_start(self, state: TrainState) -> None:
        """Open the run: the checkpoint's run when resuming (cut back to its step), else a new one."""
        import_extra("mlflow", "mlflow")
        from mlflow import MlflowClient

        given = self.cfg.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        for store_module in ("sqlalchemy", "alembic") if not given or given.startswith("sqlite:") else ():
            import_extra(store_module, "mlflow")  # a SQLite store's, not in mlflow-skinny
        if given:
            prepare_sqlite(given)
        uri = given or local_store(self.run_dir / "mlruns")
        self._client = MlflowClient(tracking_uri=uri)
        if state.step > 0 and self.run_id and self._exists(self.run_id):
            self._client.update_run(self.run_id, status="RUNNING")
            self._resume(state.step)
        else:
            self._start(uri)
        run = self._client.get_run(self.run_id)
        base = uri.rstrip("/")
        self.location = (
            f"{base}/#/experiments/{run.info.experiment_id}/runs/{self.run_id}"
            if base.startswith(("http://", "https://"))
            else f"{base} (run {self.run_id})"
        )

    def _exists(self, run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_run(run_id)
        except MlflowException:
            log.warning("MLflow run %s is not in this store; starting a new run", run_id)
            return False
        return True

    def _start(self, uri: str) -> None:
        """A new run in the experiment, with the flattened config as parameters."""
        from mlflow.entities import Param

        tags = {"plait.run_dir": str(self.run_dir), **({"plait.group": self.cfg.group} if self.cfg.group else {})}
        run = self._client.create_run(
            self._experiment(uri), run_name=self.cfg.run_name or f"{self.run_dir.parent.name}/{self.run_dir.name}",
            tags={**tags, **self.cfg.tags},
        )  # fmt: skip
        self.run_id = run.info.run_id
        params = [
            Param(NOT_IN_NAMES.sub("_", k), str(v)[:MAX_PARAM_CHARS]) for k, v in flat_config(self.config).items()
        ]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
            self._client.log_batch(self.run_id, params=params[i : i + 100])

    def _experiment(self, uri: str) -> str:
        """The experiment's id, created on first use (by whichever trial of a sweep gets there first); with a
        SQLite store its artifacts go beside the store file (MLflow's default would be ./mlruns of the cwd)."""
        from mlflow.exceptions import MlflowException

        name = self.cfg.experiment_name or self.cfg.group or str(self.config.get("name") or "plait")
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        db = sqlite_file(uri)
        location = (db.parent / "artifacts").resolve().as_uri() if db is not None else None
        try:
            return str(self._client.create_experiment(name, artifact_location=location))
        except MlflowException:  # created meanwhile by a parallel trial
            return str(self._client.get_experiment_by_name(name).experiment_id)

    def _resume(self, step: int) -> None:
        """Cut the history back to `step`; remember what is left, so that nothing is recorded twice."""
        assert self.run_id is not None
        cut = trim_after(self._client, self.run_id, step)
        self._recorded = last_steps(self._client, self.run_id)
        later = max(self._recorded.values(), default=step)
        if not cut and later > step:
            log.warning(
                "the MLflow store cannot delete metric history: steps %d..%d keep the values of the interrupted "
                "attempt (the resumed run records only later steps)", step + 1, later,
            )  # fmt: skip

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        fresh = [Metric(k, float(v), now, step) for k, v in metrics.items() if step > self._recorded.get(k, -1)]
        for i in range(0, len(fresh), 1000):
            self._client.log_batch(self.run_id, metrics=fresh[i : i + 1000])

    def log_samples(self, name: str, rows: list[dict[str, str]], step: int) -> None:
        """`<name>/step_<step>.json` in the artifacts, in MLflow's table format (`mlflow.load_table` reads it)."""
        if self._client is not None and rows:
            columns = list(dict.fromkeys(k for row in rows for k in row))
            table = {"columns": columns, "data": [[row.get(c, "") for c in columns] for row in rows]}
            self._client.log_dict(self.run_id, table, f"{name}/step_{step:07d}.json")

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        if self._client is None:
            return
        name = name or Path(path).name
        folder = str(Path(name).parent) if Path(name).parent != Path(".") else None
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / Path(name).name  # the artifact keeps `name`, whatever the file is called
            shutil.copyfile(path, copy)
            self._client.log_artifact(self.run_id, str(copy), artifact_path=folder)

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._client is not None:
            self._client.set_terminated(self.run_id, status=STATUS.get(status, "FAILED"))
            self._client = None

    def run_location(self) -> str | None:
        """The run's page on a tracking server, else the store's URI and the run id."""
        return self.location

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id") or self.run_id


def build_mlflow(cfg: MlflowLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> MlflowLogger:
    """MLflow (a SQLite store in the run directory, or logger.mlflow.tracking_uri); pip install 'plait[mlflow]'."""
    check_extra("mlflow", "mlflow")
    return MlflowLogger(cfg, run_dir, config)
