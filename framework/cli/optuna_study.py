"""Stored Optuna studies that continue after a kill: find the trials a dead sweep left running, finish them.

Plait's Optuna sweeper (`hydra/sweeper=plait_optuna`, hydra_plugins/plait_optuna_sweeper) records each
trial's run directory in the study (user attribute `plait_run_dir`). A trial still RUNNING in the study
whose directory no live process holds was killed: it is relaunched in that directory from its recorded
config (resuming from its last checkpoint) and the study is told its value. Imported only with the
`sweeps` extra installed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from hydra.errors import CompactHydraException
from optuna.trial import FrozenTrial, TrialState

from framework.cli.relaunch import has_recorded_config, relaunch_trial
from framework.engine.run_lock import in_use
from framework.errors import PlaitError

RUN_DIR_ATTR = "plait_run_dir"
log = logging.getLogger(__name__)


class StorageUnsupported(PlaitError, CompactHydraException):
    """The installed optuna cannot read a database through the installed SQLAlchemy (one line, from Hydra too)."""


def check_storage_support() -> None:
    """Optuna 2 reads its database only through SQLAlchemy 1.x: say so, instead of its bare AssertionError."""
    import sqlalchemy

    if int(optuna.__version__.split(".")[0]) < 3 and int(sqlalchemy.__version__.split(".")[0]) >= 2:
        raise StorageUnsupported(
            f"optuna {optuna.__version__} (what hydra-optuna-sweeper allows) cannot keep a study in a database "
            f"through SQLAlchemy {sqlalchemy.__version__}: install the sweeps extra's pin, "
            "pip install 'sqlalchemy>=1.4,<2' (or pip install -e '.[sweeps]')"
        )


def open_study(storage: Any, study_name: str | None, directions: list[str]) -> optuna.Study:
    """The stored study `study_name`, created when it does not exist yet."""
    check_storage_support()
    return optuna.create_study(storage=storage, study_name=study_name, directions=directions, load_if_exists=True)


def killed_trials(study: optuna.Study, sweep_dir: Path) -> list[FrozenTrial]:
    """RUNNING trials that no process runs: their run directory exists here and no live process holds it,
    or it was to be in `sweep_dir` and was never made. Others may belong to a live sweep elsewhere."""
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        recorded = trial.user_attrs.get(RUN_DIR_ATTR)
        run_dir = Path(recorded) if recorded else None
        if run_dir is None:
            continue
        if (run_dir.is_dir() and not in_use(run_dir)) or (not run_dir.exists() and run_dir.parent == sweep_dir):
            found.append(trial)
    return found


def report(study: optuna.Study, run_dir: Path, value: float | None) -> bool:
    """Tell the study how the RUNNING trial recorded with `run_dir` ended (FAIL without a value)."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(RUN_DIR_ATTR) == str(run_dir.resolve()):
            if value is None:
                study.tell(trial.number, state=TrialState.FAIL)
            else:
                study.tell(trial.number, value)
            return True
    return False


def finish_killed_trials(study: optuna.Study, sweep_dir: Path) -> None:
    """Relaunch every killed trial from its recorded config and report it; one killed before it started
    (no recorded config) is reported failed."""
    for trial in killed_trials(study, sweep_dir.resolve()):
        run_dir = Path(trial.user_attrs[RUN_DIR_ATTR])
        if has_recorded_config(run_dir):
            log.info(f"study {study.study_name}: trial {trial.number} was killed; relaunching it in {run_dir}")
            value = relaunch_trial(run_dir, run_dir.parent, str(trial.number))
        else:
            log.info(f"study {study.study_name}: trial {trial.number} was killed before it started: failed")
            value = None
        report(study, run_dir, value)
