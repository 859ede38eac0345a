"""The MLflow logger's store work: a local SQLite store made fast, and a run's metric history cut back on resume.

Creating an MLflow SQLite store runs its schema migrations (seconds); an empty store is made once per MLflow
version in Plait's cache and copied. Metric history after a step can only be deleted in a SQL store (MLflow's
API has no call for it): elsewhere the logger skips the steps already recorded instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from framework import cache_root

STORE_FILE = "mlflow.db"


def local_store(directory: Path) -> str:
    """The URI of the SQLite store in `directory`, created from the cached empty store when missing."""
    db = directory / STORE_FILE
    prepare_sqlite(f"sqlite:///{db.resolve()}")
    return f"sqlite:///{db.resolve()}"


def sqlite_file(uri: str) -> Path | None:
    """The file a `sqlite:///<path>` URI names (None for other stores and in-memory SQLite)."""
    path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
    return Path(path) if path and path != ":memory:" else None


def prepare_sqlite(uri: str) -> None:
    """Create the SQLite store a `sqlite:///<path>` URI names, when missing, as a copy of the cached empty store:
    fast, and safe when parallel trials of a sweep start on the same new file (the first copy wins)."""
    import mlflow

    db = sqlite_file(uri)
    if db is None or db.exists():
        return
    template = cache_root() / "mlflow" / f"empty-{mlflow.__version__}.db"
    if not template.exists():
        _make_empty(template)
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.tmp-{os.getpid()}")
    shutil.copyfile(template, tmp)
    try:
        os.link(tmp, db)  # fails when another process created it meanwhile: theirs is kept
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links
        if not db.exists():
            os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def _make_empty(template: Path) -> None:
    """An MLflow SQLite store with its schema and nothing else, renamed into place when complete."""
    from mlflow import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    tmp = template.with_name(f".{template.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp.resolve()}")  # creates the tables
    engine = getattr(client._tracking_client.store, "engine", None)
    if engine is not None:
        engine.dispose()
    os.replace(tmp, template)


def trim_after(client: Any, run_id: str, step: int) -> bool:
    """Delete the run's metric values logged after `step` (and fix each metric's latest value); False when the
    store is not a SQL store (a tracking server), which cannot delete them."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = client._tracking_client.store
    if not isinstance(store, SqlAlchemyStore):
        return False
    try:
        session_scope = store.ManagedSessionMaker(read_only=False)
    except TypeError:  # MLflow before 3: every session may write
        session_scope = store.ManagedSessionMaker()
    with session_scope as session:
        of_run = session.query(SqlMetric).filter(SqlMetric.run_uuid == run_id)
        later = of_run.filter(SqlMetric.step > step)
        keys = sorted({key for (key,) in later.with_entities(SqlMetric.key).distinct()})
        if not keys:
            return True
        later.delete(synchronize_session=False)
        session.query(SqlLatestMetric).filter(SqlLatestMetric.run_uuid == run_id, SqlLatestMetric.key.in_(keys)).delete(
            synchronize_session=False
        )
        for key in keys:
            last = (
                of_run.filter(SqlMetric.key == key)
                .order_by(SqlMetric.step.desc(), SqlMetric.timestamp.desc(), SqlMetric.value.desc())
                .first()
            )
            if last is not None:
                session.add(
                    SqlLatestMetric(
                        run_uuid=run_id, key=key, value=last.value, timestamp=last.timestamp,
                        step=last.step, is_nan=last.is_nan,
                    )
                )  # fmt: skip
    return True


def last_steps(client: Any, run_id: str) -> dict[str, int]:
    """The latest step recorded for each metric of the run."""
    keys = client.get_run(run_id).data.metrics
    return {key: max(m.step for m in client.get_metric_history(run_id, key)) for key in keys}
