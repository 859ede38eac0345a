"""Wire a composed config into components and train: the only place that knows the build order.

task.setup()  -> tokenizers (trained on the train split, or reloaded on resume) + TaskSpec
model(spec)   -> precision.setup(model, device) -> optimizer(model) -> scheduler(optimizer)
loggers, callbacks -> Trainer.fit()
"""

from __future__ import annotations

import hashlib
import random
import shutil
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from framework.callback import Callback
from framework.checkpoint import load_state, resolve_resume
from framework.config import TrainConfig
from framework.plugins import load_plugins
from framework.registry import (
    CALLBACKS,
    LOGGERS,
    MODELS,
    NAME_FIELD,
    OPTIMIZERS,
    PRECISIONS,
    REGISTRIES,
    SCHEDULERS,
    TASKS,
    TOKENIZERS,
    PlaitError,
)
from framework.tokenizer import Tokenizer
from framework.trainer import Components, Trainer, resolve_device
from framework.validation import validate_config

TOKENIZER_DIR = "tokenizer"
CONFIG_FILE = "config.yaml"


@dataclass
class RunResult:
    """What a finished run leaves behind."""

    metrics: dict[str, float]
    objective: float | None
    run_dir: Path
    checkpoint: Path | None
    history: list[dict[str, float]]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so model init and dropout repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def hash_directory(directory: Path) -> str:
    """sha256 over the names and bytes of every file under `directory`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def as_dictconfig(cfg: TrainConfig | DictConfig | dict[str, Any]) -> DictConfig:
    """Accept a dataclass, a mapping or a composed DictConfig; return a typed DictConfig."""
    if isinstance(cfg, DictConfig):
        return cfg
    return OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg)


def plugin_versions(cfg: DictConfig) -> dict[str, str]:
    """`kind/key -> distribution==version` for every component the run uses."""
    versions: dict[str, str] = {}
    for kind, registry in REGISTRIES.items():
        node = cfg.get(kind)
        if node is None:
            continue
        nodes = node.values() if registry.multi else [node]
        for sub in nodes:
            name = sub.get(NAME_FIELD)
            if name in registry:
                info = registry.source(name)
                versions[f"{kind}/{name}"] = f"{info.distribution}=={info.version}"
    try:
        versions["plait"] = metadata.version("plait")
    except metadata.PackageNotFoundError:
        versions["plait"] = "unknown"
    return versions


def make_tokenizer_factory(
    tokenizer_cfg: Any, run_dir: Path, resume_from: Path | None
) -> Callable[[str, Callable[[], Iterable[str]]], Tokenizer]:
    """Tokenizers per role: reloaded from the checkpoint when resuming, else trained and saved in the run."""

    def factory(role: str, texts: Callable[[], Iterable[str]]) -> Tokenizer:
        tokenizer = TOKENIZERS.build(tokenizer_cfg)
        target = run_dir / TOKENIZER_DIR / role
        saved = resume_from / TOKENIZER_DIR / role if resume_from is not None else None
        if saved is not None and saved.exists():
            tokenizer.load(saved)
            if saved.resolve() != target.resolve():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(saved, target)
        else:
            tokenizer.train(texts())
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            tokenizer.save(target)
        return tokenizer

    return factory


@dataclass
class Built:
    """Components built from one config, in dependency order."""

    cfg: DictConfig
    task: Any
    spec: Any
    model: torch.nn.Module
    precision: Any
    device: torch.device


def build_for_inference(cfg: DictConfig, run_dir: Path, checkpoint: Path) -> Built:
    """Task (tokenizers reloaded from `checkpoint`), model and precision: enough to evaluate or predict."""
    load_plugins()
    tcfg = cfg.trainer
    device = resolve_device(tcfg.device)
    task = TASKS.build(cfg.task, data_root=cfg.data_root)
    spec = task.setup(make_tokenizer_factory(cfg.tokenizer, run_dir, checkpoint))
    model = MODELS.build(cfg.model, spec=spec)
    precision = PRECISIONS.build(cfg.precision)
    model = precision.setup(model, device)
    return Built(cfg, task, spec, model, precision, device)


def train(
    config: TrainConfig | DictConfig | dict[str, Any], run_dir: Path | str, callbacks: list[Callback] | None = None
) -> RunResult:
    """Build every component from `config` and train; returns metrics and where things were written.

    `callbacks` are extra Callback objects (for use from Python), after those the config names.
    """
    load_plugins()
    cfg = as_dictconfig(config)
    validate_config(cfg)  # errors before work (the lead moves this into the build path)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / CONFIG_FILE, resolve=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    tcfg = OmegaConf.to_object(cfg.trainer)

    seed_everything(tcfg.seed)
    if tcfg.deterministic:
        torch.use_deterministic_algorithms(True)
    resume_from = resolve_resume(tcfg.resume, run_dir) if tcfg.resume else None
    ckpt = load_state(resume_from) if resume_from is not None else None

    built = build_for_inference(cfg, run_dir, resume_from)
    model, precision = built.model, built.precision
    optimizer = OPTIMIZERS.build(cfg.optimizer, model=precision.optimizer_target(model))
    scheduler = SCHEDULERS.build(cfg.scheduler, optimizer=optimizer, max_steps=tcfg.max_steps)
    loggers = [LOGGERS.build(c, run_dir=run_dir, config=resolved) for c in cfg.logger.values()]
    observers = [CALLBACKS.build(c, run_dir=run_dir) for c in cfg.callback.values()] + list(callbacks or [])

    tokenizer_dir = run_dir / TOKENIZER_DIR
    static = {
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "tokenizer_sha256": hash_directory(tokenizer_dir) if tokenizer_dir.exists() else "",
        "plugins": plugin_versions(cfg),
    }
    if ckpt is not None and ckpt.get("tokenizer_sha256") not in ("", static["tokenizer_sha256"]):
        raise PlaitError(f"the tokenizer in {resume_from} does not match its recorded hash; the checkpoint is damaged")
    trainer = Trainer(
        tcfg,
        Components(model, built.task, precision, optimizer, scheduler, loggers, observers),
        run_dir=run_dir,
        device=built.device,
        static_state=static,
        checkpoint_files={TOKENIZER_DIR: tokenizer_dir},
    )
    if ckpt is not None:
        trainer.load_state_dict(ckpt)
    metrics = trainer.fit()
    objective = metrics.get(cfg.objective) if cfg.objective else None
    if objective is None and cfg.objective:
        warnings.warn(
            f"objective '{cfg.objective}' was not reported; metrics were: {', '.join(sorted(metrics))}", stacklevel=2
        )
    return RunResult(metrics, objective, run_dir, trainer.last_checkpoint, trainer.history)
