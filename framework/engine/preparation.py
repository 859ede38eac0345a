"""Preparing a run's data without training it: the task alone is built and set up as `build` does for training
(same threads, same tokenizer factory), so the tokenizer and the token stores land in the cache where the run
will find them. `plait prepare` prints the result.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.data.encode import tokenizer_threads
from framework.engine.build import as_dictconfig, record_data_files, seed_everything
from framework.engine.config import TrainConfig
from framework.engine.threads import ThreadPlan, apply_threads, plan_threads
from framework.engine.tokenizer_factory import training_tokenizers
from framework.engine.validation import validate_config
from framework.kinds import TASKS
from framework.plugins import load_plugins
from framework.task import TaskSpec


@dataclass
class Prepared:
    """What preparing a run's data did: the task's spec, its steps (timed rows), the files it read."""

    spec: TaskSpec
    steps: list[dict[str, Any]]
    files: dict[str, list[dict[str, Any]]]
    seconds: float
    threads: ThreadPlan
    run_dir: Path | None = None  # where the tokenizer and data_files.json were saved (None: a temporary directory)


def prepare_data(config: TrainConfig | DictConfig | dict[str, Any], run_dir: Path | None = None) -> Prepared:
    """Set up the task of `config` with the training tokenizer factory, saving into `run_dir` (or a temporary
    directory): the data read, the tokenizer trained (or reused), the token stores filled (or found)."""
    load_plugins()
    cfg = as_dictconfig(config)
    validate_config(cfg)
    threads = apply_threads(plan_threads(cfg.trainer.num_threads))
    tokenizer_threads(threads.n)
    task = TASKS.build(cfg.task)
    seed_everything(cfg.trainer.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="plait-prepare-") as tmp:
        target = Path(run_dir) if run_dir is not None else Path(tmp)
        target.mkdir(parents=True, exist_ok=True)
        spec = task.setup(training_tokenizers(cfg.tokenizer, target, None))
        record_data_files(task, target)
    seconds = time.perf_counter() - start
    return Prepared(spec, task.prepared(), task.data_files(), seconds, threads, run_dir)
