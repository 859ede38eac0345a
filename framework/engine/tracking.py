"""What a run hands its loggers beyond metrics: config.yaml when training starts, the task's validation samples
after each evaluation (`trainer.eval_samples`), summary.json at the end; and a finished run's loggers reopened
to add files to its records (`plait compare --log`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from framework.callback import Callback, TrainState
from framework.engine import distributed
from framework.engine.checkpoint import load_latest
from framework.engine.evaluation import samples
from framework.errors import PlaitError
from framework.files import atomic_write
from framework.kinds import LOGGERS
from framework.logger import Logger
from framework.plugins import load_plugins
from framework.precision import PrecisionStrategy
from framework.task import Task

SUMMARY_FILE = "summary.json"


def _overrides(logger: Logger, method: str) -> bool:
    """True when `logger` implements `method` rather than inheriting Logger's no-op."""
    return getattr(type(logger), method) is not getattr(Logger, method)


class Tracking(Callback):
    """The core's own observer, last in line: hands files and samples to the loggers."""

    def __init__(
        self,
        loggers: list[Logger],
        *,
        model: nn.Module,
        task: Task,
        precision: PrecisionStrategy,
        eval_samples: int,
        config_file: Path,
        ending: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.loggers, self.model, self.task, self.precision = loggers, model, task, precision
        self.config_file = config_file
        self.ending = ending  # how the run ended and its best evaluation (framework.engine.stopping's Watch.summary)
        # every rank decodes under torchrun (a sharded model needs them all); alone, only for a logger that shows them
        wanted = distributed.world_size() > 1 or any(_overrides(lg, "log_samples") for lg in loggers)
        self.eval_samples = eval_samples if wanted else 0

    def on_fit_start(self, state: TrainState) -> None:
        """The resolved config (config.yaml) as an artifact."""
        if self.config_file.is_file():
            for logger in self.loggers:
                logger.log_artifact(self.config_file)

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """The task's fixed examples of the evaluated split with the model's outputs, as `<split>/samples`."""
        if not self.eval_samples or not metrics:
            return
        split = next(iter(metrics)).split("/", 1)[0]
        rows = samples(distributed.unwrap(self.model), self.task, split, self.eval_samples, precision=self.precision)
        for logger in self.loggers if rows else []:
            logger.log_samples(f"{split}/samples", rows, state.step)

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """summary.json (run directory, last step, final evaluation, how the run ended), written and handed over."""
        if not distributed.is_main():
            return
        summary: dict[str, Any] = {"run_dir": str(state.run_dir), "step": state.step, **metrics, **self.ending()}
        path = state.run_dir / SUMMARY_FILE
        atomic_write(path, json.dumps(summary, indent=2) + "\n")
        for logger in self.loggers:
            logger.log_summary(summary)
            logger.log_artifact(path)


@contextmanager
def reopened_loggers(run_dir: Path) -> Iterator[dict[str, Logger]]:
    """The run's loggers that keep files, by name, reattached to the run's records at its last checkpoint;
    closed after."""
    config_file = run_dir / "config.yaml"
    loaded = load_latest(run_dir, verify=False) if config_file.is_file() else None
    if loaded is None:
        raise PlaitError(f"{run_dir} has no config.yaml or no complete checkpoint: nothing to reattach to")
    load_plugins()
    cfg = OmegaConf.load(config_file)
    assert isinstance(cfg, DictConfig)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    state = TrainState(step=int(loaded.state["step"]), max_steps=int(loaded.state["step"]), run_dir=run_dir)
    saved = loaded.state.get("observers", [])  # the loggers' states come first, in the config's order
    opened: dict[str, Logger] = {}
    try:
        for (name, node), logger_state in zip(cfg.get("logger", {}).items(), saved, strict=False):
            logger = LOGGERS.build(node, run_dir=run_dir, config=resolved)
            if _overrides(logger, "log_artifact"):
                logger.load_state_dict(logger_state)
                logger.on_fit_start(state)
                opened[str(name)] = logger
        yield opened
    finally:
        for logger in opened.values():
            logger.close(state, "finished")
