"""One trial of a sweep: train it, then record its result (`result.json`) or its failure (`FAILED`).

A failed trial never stops the sweep. The Hydra app runs every trial of `plait train -m` through
`run_trial`; relaunches (`plait sweep resume`, a stored Optuna study continued) run through it too.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.cli.sweep_summary import FAILED_FILE, write_result
from framework.engine.summary import RunResult
from framework.errors import PlaitError


def train_or_exit(cfg: DictConfig, run_dir: Path, parent: dict[str, Any] | None = None) -> RunResult:
    """Train (`parent`: the run a rerun starts from); a graceful stop (SIGTERM, SIGUSR1) ends the whole command
    with the signal's exit code."""
    from framework.engine.preemption import Preempted
    from framework.engine.run import train

    try:
        return train(cfg, run_dir, parent=parent)
    except Preempted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


def group_loggers(cfg: DictConfig, sweep_dir: Path) -> None:
    """Loggers that group runs (W&B's `group`) put every trial of a sweep in one group named after it."""
    for node in cfg.get("logger", {}).values():
        if "group" in node and node.group is None:
            node.group = sweep_dir.name


def run_trial(cfg: DictConfig, run_dir: Path, trial: int | str, sweep_dir: Path) -> float | None:
    """Train one trial into `run_dir` and record how it ended; returns its objective (None when it failed)."""
    from framework.engine.summary import print_run_summary

    group_loggers(cfg, sweep_dir)
    (run_dir / FAILED_FILE).unlink(missing_ok=True)  # a relaunched trial starts without its old failure
    try:
        result = train_or_exit(cfg, run_dir)
    except PlaitError as exc:
        record_failure(run_dir, trial, f"{exc}\n")
        return None
    except Exception:
        record_failure(run_dir, trial, traceback.format_exc())
        return None
    print_run_summary(result)
    write_result(run_dir, cfg.objective, result.objective, result.history, result.logged, result.stopped or "ok")
    return result.objective


def record_failure(run_dir: Path, trial: int | str, text: str) -> None:
    """A failed trial is written to FAILED in its directory and does not stop the sweep."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / FAILED_FILE).write_text(text)
    print(f"trial {trial} failed (see {run_dir / FAILED_FILE}): {text.strip().splitlines()[-1]}", file=sys.stderr)
