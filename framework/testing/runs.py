"""Configs and tiny trainings for tests: compose `conf/train.yaml` as `plait train` does, and train a few steps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:
    from framework.engine.summary import RunResult

# Small, fast settings for CPU tests: no W&B, no console noise, tiny demo corpus and model.
QUICK = [
    "logger=[jsonl]",
    "trainer.max_steps=6",
    "trainer.batch_size=8",
    "trainer.log_every_n_steps=2",
    "trainer.eval_every_n_steps=3",
    "trainer.checkpoint_every_n_steps=3",
    "trainer.device=cpu",
]


def compose(overrides: list[str] | None = None, *, quick: bool = True) -> DictConfig:
    """Compose `conf/train.yaml` exactly as `plait train` does, with `overrides` (after QUICK when quick)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from framework.engine.config import store_schemas
    from framework.plugins import conf_dir, load_plugins

    load_plugins()
    store_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose("train", overrides=[*(QUICK if quick else []), *(overrides or [])])


def run_quick(overrides: list[str] | None, run_dir: Path) -> RunResult:
    """Compose with QUICK settings and train into `run_dir`; returns framework.engine.summary.RunResult."""
    from framework.engine.run import train

    return train(compose(overrides), run_dir)
