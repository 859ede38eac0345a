"""Train one run: build through the one build path, record the resolved config, fit, report.

Only this module and the CLI know about run directories as a whole; `framework.build` knows the build order.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.build import as_dictconfig, build
from framework.callback import Callback
from framework.config import TrainConfig
from framework.summary import RunResult

CONFIG_FILE = "config.yaml"


def train(
    config: TrainConfig | DictConfig | dict[str, Any], run_dir: Path | str, callbacks: list[Callback] | None = None
) -> RunResult:
    """Build every component from `config` and train; returns metrics and where things were written.

    `callbacks` are extra Callback objects (for use from Python), after those the config names.
    """
    cfg = as_dictconfig(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    built = build(cfg, run_dir, mode="train", callbacks=callbacks or ())
    OmegaConf.save(built.cfg, run_dir / CONFIG_FILE, resolve=True)
    trainer = built.trainer()
    metrics = trainer.fit()
    objective = metrics.get(cfg.objective) if cfg.objective else None
    if objective is None and cfg.objective:
        warnings.warn(
            f"objective '{cfg.objective}' was not reported; metrics were: {', '.join(sorted(metrics))}", stacklevel=2
        )
    return RunResult(metrics, objective, run_dir, trainer.last_checkpoint, trainer.history)
