"""Reopen a finished (or interrupted) run for evaluation and inference, from its directory alone.

Everything comes from the checkpoint (config, task spec, tokenizers, weights) through the one build
path; nothing is written into the run. Dotted overrides edit the saved config (`task.test_path=...`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.engine.build import Built, build
from framework.engine.checkpoint import Loaded, load_latest
from framework.engine.config import TrainConfig
from framework.engine.evaluation import evaluate, run_inference
from framework.errors import PlaitError


def open_checkpoint(path: Path | str) -> Loaded:
    """The newest checkpoint under `path` that loads (damaged newer ones are skipped, each named once)."""
    loaded = load_latest(path)
    if loaded is None:
        raise PlaitError(f"no complete checkpoint under {path} (expected checkpoints/step_*/COMPLETE)")
    for skipped, why in loaded.skipped:
        print(f"note: skipped checkpoint {skipped}: {why}", file=sys.stderr)
    return loaded


def saved_config(state: dict[str, Any], overrides: list[str] | None = None) -> DictConfig:
    """A run's resolved config as saved in a checkpoint's `state`, with dotlist `overrides` applied."""
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(state["config"]))
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    assert isinstance(cfg, DictConfig)
    return cfg


def load_run(path: Path | str, device: str | None = None, overrides: list[str] | None = None) -> Built:
    """Task, tokenizers, model with its trained weights, and precision of a run, ready for inference."""
    loaded = open_checkpoint(path)
    cfg = saved_config(loaded.state, overrides)
    if device is not None:
        cfg.trainer.device = device
    return build(cfg, loaded.path.parent.parent, mode="infer", checkpoint=loaded)


def evaluate_split(built: Built, split: str, batch_size: int | None = None) -> dict[str, float]:
    """Metrics of a reopened run on `split`, keyed `<split>/<name>`."""
    tcfg = built.cfg.trainer
    raw = evaluate(
        built.model,
        built.task,
        split,
        precision=built.precision,
        device=built.device,
        batch_size=batch_size or tcfg.eval_batch_size or tcfg.batch_size,
        batch_key="batch_size",  # the option of plait eval
    )
    return {f"{split}/{k}": v for k, v in raw.items()}


def call_task(built: Built, method: str, command: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    """Run the task's inference `method` (part of a documented interface) under no_grad and autocast.

    A task without it gets an error saying which tasks `plait <command>` works with.
    """
    found = getattr(built.task, method, None)
    if not callable(found):
        raise PlaitError(
            f"plait {command} works with {kind} tasks; this run's task ({type(built.task).__name__}) has no "
            f"{method}(). See `plait --help` for the command that fits it"
        )
    return run_inference(built.precision, found, built.model, *args, **kwargs)
