"""`plait sweep resume <multirun dir>`: run again the trials of a sweep that failed or never finished.

Which trials: every trial directory without a `result.json` (failed, or killed before it finished) and,
for a grid (Hydra's basic sweeper), the trials that never started, found by expanding the sweep's
recorded overrides again (`multirun.yaml`). Each runs in its own directory under its own number from
its recorded config, continuing from its last checkpoint where it has one (framework.cli.relaunch); a
trial that never started gets the sweep's recorded config with its swept values. They run one after
another in this process, whatever launcher the sweep used. A directory that a live process holds is left
alone. A stored Optuna study is told the values. Then the sweep summary is written again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from framework.cli.hydra_app import group_options
from framework.cli.relaunch import relaunch_trial, with_overrides
from framework.cli.sweep_summary import REJECTED_PREFIX, RESULT_FILE, SWEEP_CONFIG, summarize, trial_dirs
from framework.cli.trials import record_failure
from framework.engine.build import as_dictconfig
from framework.engine.run_lock import in_use
from framework.errors import PlaitError
from framework.plugins import conf_dir

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def unfinished(sweep_dir: Path) -> list[tuple[str, Path]]:
    """Trials that have a directory and no result: failed, or killed before they finished."""
    found = trial_dirs(sweep_dir)
    return [(t, p) for t, p in found if not (p / RESULT_FILE).is_file() and not t.startswith(REJECTED_PREFIX)]


def grid(master: DictConfig) -> tuple[list[list[str]], set[str]]:
    """A basic sweep's trials (each one's overrides, in job order, as Hydra expands them) and its swept keys."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (master.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*params, *master.hydra.overrides.task])
    jobs = [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    return jobs, {o.key_or_group for o in parsed if o.is_sweep_override()}


def never_started(sweep_dir: Path, master: DictConfig) -> list[tuple[str, list[str], set[str]]]:
    """(trial, its overrides, the swept keys) of a grid's trials that have no directory yet."""
    numbered = cast(dict[str, Any], OmegaConf.to_container(master.hydra.sweep))["subdir"] == "${hydra.job.num}"
    if master.hydra.sweeper.get("_target_") != BASIC_SWEEPER or not numbered:
        return []  # an Optuna study continues by running its command again; other subdirs: unknown names
    jobs, swept = grid(master)
    return [(str(i), job, swept) for i, job in enumerate(jobs) if not (sweep_dir / str(i) / ".hydra").is_dir()]


def prepare(sweep_dir: Path, master: DictConfig, trial: str, job: list[str], swept: set[str]) -> Path:
    """Give a trial that never started its directory and recorded config: the sweep's, with its swept values."""
    values = [o for o in job if o.split("=", 1)[0].lstrip("+") in swept]
    groups = [o for o in values if group_options(o.split("=", 1)[0].lstrip("+"), conf_dir())]
    if groups:
        raise PlaitError(
            f"trial {trial} never started and chooses {' '.join(groups)}: a config group cannot be applied to a "
            f"recorded config; run it as a sweep of its own: plait train -m {' '.join(job)}"
        )
    job_config = {k: v for k, v in cast(dict[str, Any], OmegaConf.to_container(master)).items() if k != "hydra"}
    cfg = with_overrides(as_dictconfig(job_config), values)
    run_dir = sweep_dir / trial
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(job), run_dir / ".hydra" / "overrides.yaml")
    print(f"trial {trial} never started: its config is the sweep's recorded one with {' '.join(values)}")
    return run_dir


def stored_study(master: DictConfig) -> Any:
    """The sweep's Optuna study when it is stored (`hydra.sweeper.storage`), else None."""
    sweeper = master.hydra.sweeper
    if "optuna" not in str(sweeper.get("_target_", "")) or not sweeper.get("storage"):
        return None
    from framework.cli.optuna_study import open_study

    direction = sweeper.direction
    directions = [str(d) for d in direction] if not isinstance(direction, str) else [direction]
    return open_study(sweeper.storage, sweeper.study_name, directions)


def resume_sweep(sweep_dir: Path) -> int:
    """Relaunch the unfinished trials of `sweep_dir` and rewrite its summary; returns how many still failed."""
    if not (sweep_dir / SWEEP_CONFIG).is_file():
        raise PlaitError(f"{sweep_dir} is not a sweep directory (no {SWEEP_CONFIG}); give the -m run's directory")
    master = OmegaConf.load(sweep_dir / SWEEP_CONFIG)
    assert isinstance(master, DictConfig)
    todo = unfinished(sweep_dir)
    todo += [(t, prepare(sweep_dir, master, t, job, swept)) for t, job, swept in never_started(sweep_dir, master)]
    for trial, run_dir in [(t, p) for t, p in todo if in_use(p)]:
        print(f"trial {trial} is still running ({run_dir}): left alone", file=sys.stderr)
    todo = sorted(((t, p) for t, p in todo if not in_use(p)), key=lambda tp: (len(tp[0]), tp[0]))
    print(f"sweep {sweep_dir}: relaunching {len(todo)} trial(s): {' '.join(t for t, _ in todo) or '(none)'}")
    study = stored_study(master)
    for trial, run_dir in todo:
        try:
            value = relaunch_trial(run_dir, sweep_dir, trial)
        except PlaitError as exc:  # e.g. a directory without a recorded config
            record_failure(run_dir, trial, f"{exc}\n")
            value = None
        if study is not None:
            from framework.cli.optuna_study import report

            report(study, run_dir, value)
    rows = summarize(sweep_dir)
    return sum(r["status"].startswith("failed") for r in rows)
