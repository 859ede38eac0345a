"""The one build path: a composed config becomes components, for training and for inference alike.

    task           training: task.setup(tokenizers trained, or reloaded on resume) -> TaskSpec
                   inference: task.restore(the run's saved TaskSpec, the run's saved tokenizers)
    model(spec) -> precision.setup(model, device)
    training only: optimizer(model) -> scheduler(optimizer) -> loggers, callbacks -> Trainer

No other module constructs components in sequence. Inference reads the run directory and never writes to it.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from framework.callback import Callback
from framework.capabilities import init_only_fields
from framework.data.encode import tokenizer_threads
from framework.engine import distributed
from framework.engine.adapter import attach_adapter, frozen_in_autocast_dtype, resolve_base, seed_base
from framework.engine.adapter_config import NONE, adapter_name
from framework.engine.allocator import apply_cpu_allocator
from framework.engine.checkpoint import Loaded, clean_leftovers, load_resume
from framework.engine.config import TrainConfig, TrainerConfig
from framework.engine.device import resolve_device
from framework.engine.disk import writing
from framework.engine.memory import check_fits, measure_on_meta, model_fixes, out_of_memory
from framework.engine.monitor import check_monitor
from framework.engine.resume import check_resume
from framework.engine.stopping import Watch
from framework.engine.threads import ThreadGovernor, ThreadPlan, apply_threads, governor_for, plan_threads
from framework.engine.tokenizer_factory import TOKENIZER_DIR as TOKENIZER_DIR
from framework.engine.tokenizer_factory import saved_tokenizers as saved_tokenizers
from framework.engine.tokenizer_factory import training_tokenizers as training_tokenizers
from framework.engine.trainer import Components, Trainer
from framework.engine.validation import check_split_sizes, validate_config
from framework.errors import PlaitError
from framework.files import atomic_write
from framework.kinds import (
    CALLBACKS,
    LOGGERS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    REGISTRIES,
    SCHEDULERS,
    TASKS,
)
from framework.logger import Logger
from framework.plugins import check_recorded_providers, load_plugins
from framework.precision import PrecisionStrategy
from framework.schema import NAME_FIELD
from framework.task import Task, TaskSpec
from framework.tokenizer import directory_digest

DATA_FILES = "data_files.json"  # in the run directory: the files each split was read from
INFER_KINDS = ("task", "tokenizer", "model", "precision")  # what reopening a run for inference builds
RESUME_KINDS = (*INFER_KINDS, "optimizer", "scheduler")  # loggers and callbacks may change on resume
Mode = Literal["train", "infer"]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so model init and dropout repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def as_dictconfig(cfg: TrainConfig | DictConfig | dict[str, Any]) -> DictConfig:
    """Accept a dataclass, a mapping or a composed DictConfig; return a typed DictConfig."""
    if isinstance(cfg, DictConfig):
        return cfg
    merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg)
    assert isinstance(merged, DictConfig)
    return merged


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


def record_data_files(task: Task, run_dir: Path) -> None:
    """Write what the task read (split -> files with sizes and content hashes) to the run's data_files.json."""
    files = task.data_files()
    if files:
        atomic_write(run_dir / DATA_FILES, json.dumps(files, indent=1) + "\n")


def providers_needed(checkpoint: Loaded, kinds: tuple[str, ...]) -> dict[str, str]:
    """The checkpoint's recorded `kind/key -> dist==version` entries of the component kinds about to be built."""
    recorded: dict[str, str] = checkpoint.state.get("plugins", {})
    return {k: v for k, v in recorded.items() if k.split("/", 1)[0] in kinds}


@dataclass
class Built:
    """Components built from one config, in dependency order; the training part is empty for inference."""

    cfg: DictConfig
    run_dir: Path
    device: torch.device
    task: Task
    spec: TaskSpec
    model: nn.Module
    precision: PrecisionStrategy
    loaded: Loaded | None = None  # the checkpoint loaded (resumed from, or reopened) and its contents
    threads: ThreadPlan | None = None  # the CPU thread plan applied before the first tensor operation
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    loggers: list[Logger] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any] | None:
        """The loaded checkpoint's contents (None for a fresh training run)."""
        return self.loaded.state if self.loaded is not None else None

    @property
    def checkpoint(self) -> Path | None:
        """The loaded checkpoint's directory (None for a fresh training run)."""
        return self.loaded.path if self.loaded is not None else None

    def static_state(self) -> dict[str, Any]:
        """What every checkpoint of this run repeats: config, task spec, tokenizer digest, plugin versions."""
        tokenizer_dir = self.run_dir / TOKENIZER_DIR
        return {
            "config": OmegaConf.to_yaml(self.cfg, resolve=True),
            "spec": self.spec.to_dict(),
            "tokenizer_sha256": directory_digest(tokenizer_dir) if tokenizer_dir.exists() else "",
            "plugins": plugin_versions(self.cfg),
        }

    def _governor(self) -> ThreadGovernor | None:
        """A thread governor for CPU runs with an adaptive plan; never for `trainer.deterministic` runs, whose
        results must not depend on how busy the machine was (reductions split differently with more threads)."""
        if self.threads is None or self.device.type != "cpu" or self.cfg.trainer.deterministic:
            return None
        return governor_for(self.threads)

    def trainer(self) -> Trainer:
        """A Trainer over these components, continuing from the resumed checkpoint when there is one."""
        if self.optimizer is None:
            raise PlaitError("these components were built for inference; build with mode='train' to train")
        parts = Components(
            self.model, self.task, self.precision, self.optimizer, self.scheduler, self.loggers, self.callbacks
        )
        static = self.static_state()
        if self.state is not None and self.state.get("tokenizer_sha256") not in ("", static["tokenizer_sha256"]):
            raise PlaitError(f"the tokenizer in {self.checkpoint} does not match its recorded hash; it is damaged")
        tcfg: TrainerConfig = OmegaConf.to_object(self.cfg.trainer)  # type: ignore[assignment]
        trainer = Trainer(
            tcfg,
            parts,
            run_dir=self.run_dir,
            device=self.device,
            static_state=static,
            checkpoint_files={TOKENIZER_DIR: self.run_dir / TOKENIZER_DIR},
            governor=self._governor(),
            watch=Watch(tcfg, check_monitor(tcfg, self.cfg.objective, self.task)),
        )
        if self.state is not None:
            trainer.load_state_dict(self.state)
            trainer.last_checkpoint = self.checkpoint
        return trainer


def resume_point(cfg: DictConfig, run_dir: Path) -> Loaded | None:
    """The checkpoint `trainer.resume` names (damaged newer ones skipped and said), its plugins checked."""
    if distributed.is_main():
        clean_leftovers(run_dir / "checkpoints")  # what a killed save or pruning left
    distributed.barrier()
    checkpoint = load_resume(cfg.trainer.resume, run_dir) if cfg.trainer.resume else None
    if checkpoint is None:
        return None
    checkpoint.note_skipped()
    check_recorded_providers(providers_needed(checkpoint, RESUME_KINDS), context=f"resuming {checkpoint.path}")
    return checkpoint


def choose_precision(cfg: DictConfig, device: torch.device, checkpoint: Loaded | None) -> None:
    """Replace a precision that picks for the hardware (`auto`) by its choice, so the run records what ran.

    A resumed run keeps the choice it made when it started, whatever this machine would pick.
    """
    resolved, why = resolve_precision(cfg.precision, device)
    if why is None:
        return
    if checkpoint is not None:
        resolved = OmegaConf.create(checkpoint.state["config"]).precision
        why = f"the resumed run keeps precision={resolved[NAME_FIELD]}"
    cfg.precision = resolved
    if distributed.is_main():
        print(f"precision: {why}")


def build_model(
    cfg: DictConfig,
    spec: TaskSpec,
    device: torch.device,
    precision: PrecisionStrategy,
    model_factory: Callable[[TaskSpec], nn.Module] | None = None,
) -> nn.Module:
    """The model for `spec`, set up by `precision` on `device`. One whose parameters cannot fit (counted on the
    meta device first) is refused before it is built; an allocation failing while it is built is one clear error."""

    def make(node: Any = cfg.model) -> nn.Module:
        return model_factory(spec) if model_factory else MODELS.build(node, spec=spec)

    fixes = model_fixes(cfg.model, activations=False) if model_factory is None else ["build a smaller model"]
    size = measure_on_meta(lambda: make(without_init_only(cfg.model)))  # pretrained files are not read twice
    check_fits(size, device, fixes)
    with out_of_memory(lambda exc: "while building the model" + (f" ({size})" if size else ""), device, fixes):
        seed_base(cfg)
        model = precision.setup(attach_adapter(cfg, make()), device)  # adapter=lora: base frozen, adapters added
        frozen_in_autocast_dtype(model, precision)
        return model


def without_init_only(node: Any) -> Any:
    """A copy of a model config with the fields that only initialise weights (pretrained files) unset."""
    node = copy.deepcopy(node)
    for name in init_only_fields(MODELS, node[NAME_FIELD]):
        node[name] = None
    return node


def compile_model(model: nn.Module) -> nn.Module:
    """`trainer.compile`: compile the model's calls in place (`nn.Module.compile`, inductor by default).

    In place, so the module keeps its class and its state_dict keys (no `_orig_mod.` prefix): checkpoints load
    into an uncompiled model, and resuming with or without compilation restores the same state. Applied after
    the precision strategy (casts, master weights) and the data-parallel wrapper, as torch recommends.
    """
    model.compile()
    return model


def build(
    config: TrainConfig | DictConfig | dict[str, Any],
    run_dir: Path | str,
    *,
    mode: Mode = "train",
    checkpoint: Loaded | None = None,
    callbacks: Sequence[Callback] = (),
    task: Task | None = None,
    model_factory: Callable[[TaskSpec], nn.Module] | None = None,
) -> Built:
    """Build every component `config` names. `train`: for `Trainer.fit` (resuming per `trainer.resume`);
    `infer`: task, model with the weights of the loaded `checkpoint`, and precision, from the run alone.

    `task` and `model_factory` stand in for the config's task and model (from Python, without registering).
    """
    load_plugins()
    cfg = as_dictconfig(config)
    if mode == "infer" and checkpoint is not None:  # a missing plugin is named with its install line
        check_recorded_providers(providers_needed(checkpoint, INFER_KINDS), context=f"reopening {checkpoint.path}")
    given = tuple(k for k, obj in (("task", task), ("model", model_factory)) if obj is not None)
    validate_config(cfg, skip=given)  # every bad value fails here, before any data is read or file written
    run_dir = Path(run_dir)
    tcfg = cfg.trainer
    threads = apply_threads(plan_threads(tcfg.num_threads))  # before the first tensor operation
    tokenizer_threads(threads.n)  # the tokenizers library's pool too, before its first parallel call
    device = distributed.rank_device(resolve_device(tcfg.device))
    allocator = apply_cpu_allocator(tcfg.cpu_allocator, device.type)  # before the run's first large buffers
    task = task if task is not None else TASKS.build(cfg.task)
    seed_everything(tcfg.seed)
    if mode == "train":
        check_monitor(tcfg, cfg.objective, task)  # a monitor the task does not log fails here, before data is read
        if tcfg.deterministic:
            torch.use_deterministic_algorithms(True)
        checkpoint = resume_point(cfg, run_dir)
        choose_precision(cfg, device, checkpoint)
        if distributed.is_main():
            governed = "; fewer while other processes keep these CPUs busy" if threads.adaptive else ""
            print(f"threads: {threads.n} ({threads.reason}{governed})")
            print(f"memory: {allocator.reason}")
            if threads.warning:
                print(f"warning: {threads.warning}", file=sys.stderr)
        base = resolve_base(cfg)  # adapter.base: pinned to its checkpoint, whose tokenizers this run reuses
        if checkpoint is not None:
            check_resume(checkpoint.state["config"], cfg, checkpoint.path)  # before any data is read
        spec = task.setup(training_tokenizers(cfg.tokenizer, run_dir, checkpoint.path if checkpoint else base))
        small = check_split_sizes(task, tcfg, cfg.get("task"))  # a batch larger than the data fails on every rank
        for warning in small if distributed.is_main() else []:
            print(f"warning: {warning}", file=sys.stderr)
        if distributed.is_main():
            record_data_files(task, run_dir)
    else:
        if checkpoint is None:
            raise PlaitError("inference needs a checkpoint to load")
        if "spec" not in checkpoint.state:
            raise PlaitError(
                f"{checkpoint.path} predates self-contained runs (it holds no task spec); retrain it with this Plait"
            )
        spec = TaskSpec.from_dict(checkpoint.state["spec"])
        task.restore(spec, saved_tokenizers(cfg.tokenizer, checkpoint.path))
        for name in init_only_fields(MODELS, cfg.model[NAME_FIELD]) if adapter_name(cfg) == NONE else ():
            cfg.model[name] = None  # the checkpoint's weights replace whatever these would initialise
    precision = PRECISIONS.build(cfg.precision)
    model = build_model(cfg, spec, device, precision, model_factory)
    if mode == "train":
        model = distributed.wrap(model, tcfg.strategy, device, precision)  # DDP / FSDP2 under torchrun
        if tcfg.compile:
            compile_model(model)
    built = Built(cfg, run_dir, device, task, spec, model, precision, checkpoint, threads)
    if mode == "infer":
        assert built.state is not None  # inference raised above without a checkpoint
        model.load_state_dict(built.state["model"])
        model.eval()
        return built
    resolved = OmegaConf.to_container(cfg, resolve=True)
    built.optimizer = OPTIMIZERS.build(cfg.optimizer, model=precision.optimizer_target(model))
    built.scheduler = SCHEDULERS.build(cfg.scheduler, optimizer=built.optimizer, max_steps=tcfg.max_steps)
    if distributed.is_main():  # one voice: only rank 0 logs (console, metrics.jsonl, W&B)
        with writing(f"the loggers' files in {run_dir}", run_dir):
            built.loggers = [LOGGERS.build(c, run_dir=run_dir, config=resolved) for c in cfg.logger.values()]
    built.callbacks = [CALLBACKS.build(c, run_dir=run_dir) for c in cfg.callback.values()] + list(callbacks)
    return built


def resolve_precision(node: Any, device: torch.device) -> tuple[Any, str | None]:
    """The concrete precision config to run with, and why (None: `node` is already concrete).

    A strategy that picks another one for the hardware (precision=auto) has `resolve(device) -> (mapping, reason)`;
    its answer replaces `node` before the config is saved, so config.yaml, loggers and `plait compare` name the
    strategy that really ran. Call once, before `PRECISIONS.build`.
    """
    strategy = PRECISIONS.build(node)
    resolve = getattr(strategy, "resolve", None)
    if not callable(resolve):
        return node, None
    chosen, reason = resolve(device)
    name = chosen[NAME_FIELD]
    schema = OmegaConf.structured(PRECISIONS.config_class(name))
    resolved = OmegaConf.merge(schema, {k: v for k, v in chosen.items() if k != NAME_FIELD})
    OmegaConf.update(resolved, NAME_FIELD, name, force_add=True)
    return resolved, reason
