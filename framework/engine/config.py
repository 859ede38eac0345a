"""Top-level configuration schemas and their place in Hydra's ConfigStore.

Component options are not declared here: each component's dataclass lives next to it and is stored
in the ConfigStore when its plugin registers (see `framework.registry`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from framework.engine.adapter_config import default_adapter, store_adapter_schemas
from framework.schema import Choice

MAX_SEED = 2**32 - 1


class MonitorMode(Choice):
    """Which way the monitored metric improves (`trainer.early_stopping.mode`)."""

    min = "min"
    max = "max"


@dataclass
class EarlyStoppingConfig:
    """The monitored metric and when a run that stopped improving ends (`trainer.early_stopping.*`).

    `monitor` and `mode` also rank `trainer.keep_best_checkpoints`; stopping is off while `patience` is null.
    """

    patience: Optional[int] = None  # evaluations in a row without improvement before the run stops; null: never
    monitor: Optional[str] = None  # metric watched at evaluations, e.g. val/loss; null: the run's objective
    mode: Optional[MonitorMode] = None  # min | max; null: min for loss, perplexity and error metrics, else max
    min_delta: float = 0.0  # the smallest change of the metric that counts as an improvement

    def validate(self) -> None:
        """Range checks (run with the trainer's)."""
        from framework.schema import at_least

        at_least(self, 1, "patience")
        at_least(self, 0, "min_delta")


@dataclass
class ProfilerConfig:
    """A torch.profiler window in optimizer steps (`trainer.profiler`): skip `wait`, warm up, record `active`."""

    wait: int = 1  # steps ignored first (start-up, first-touch allocations)
    warmup: int = 1  # steps traced but discarded (the profiler's own start-up)
    active: int = 3  # steps recorded: the trace, the operator table and the phase split cover these

    def validate(self) -> None:
        """Range checks (run with the trainer's)."""
        from framework.schema import at_least

        at_least(self, 0, "wait", "warmup")
        at_least(self, 1, "active")


def profiler_window(node: Any) -> ProfilerConfig:
    """`trainer.profiler` (a mapping of wait, warmup, active) as a checked ProfilerConfig; a ConfigValueError
    naming the key and the fix otherwise."""
    from framework.errors import ConfigValueError

    names = [f.name for f in dataclasses.fields(ProfilerConfig)]
    usage = f": must be null or {{{', '.join(names)}}} in steps, e.g. trainer.profiler={{wait:1,warmup:1,active:3}}"
    if not isinstance(node, Mapping) or set(node) - set(names):
        raise ConfigValueError("profiler", f"={node}{usage}")
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in node.values()):
        raise ConfigValueError("profiler", f"={dict(node)}{usage}")
    window = ProfilerConfig(**{str(k): int(v) for k, v in node.items()})
    try:
        window.validate()
    except ConfigValueError as exc:
        raise exc.under("profiler") from None
    return window


@dataclass
class TrainerConfig:
    """Options of the training loop (`trainer.*`)."""

    max_steps: int = 300
    seed: int = 0  # 0 .. 2**32 - 1
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:1 ...
    batch_size: int = 32
    max_tokens: Optional[int] = None  # batches by a token budget, padding counted (fairseq's --max-tokens); null: off
    eval_batch_size: Optional[int] = None  # null: same as batch_size
    grad_accum_steps: int = 1
    clip_grad_norm: Optional[float] = 1.0  # null disables clipping
    log_every_n_steps: int = 10
    eval_every_n_steps: int = 100
    eval_samples: int = 4  # validation examples with the model's outputs handed to loggers at each evaluation; 0: none
    checkpoint_every_n_steps: int = 100  # 0 disables periodic checkpoints (the final one is still written)
    keep_last_checkpoints: int = 2  # newest periodic checkpoints kept on disk; 0 keeps them all
    # each checkpoint also uploaded (in the background) there; resume=auto on an empty machine downloads the newest
    checkpoint_dir: Optional[str] = None  # null: checkpoints/ only | s3://bucket/prefix | gs:// | file:// | memory://
    keep_best_checkpoints: int = 0  # also keep the k best by the monitored metric (early_stopping.monitor); 0: off
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    max_time: Optional[str] = None  # stop before this much wall-clock time: "HH:MM:SS", "DD:HH:MM:SS", 90, 45m, 2h
    resume: Optional[str] = None  # auto | <checkpoint or run dir> | null
    overwrite: bool = False  # replace a previous run in this directory: deletes its checkpoints and metrics
    deterministic: bool = False  # torch.use_deterministic_algorithms
    num_threads: str = "auto"  # CPU threads: auto (CPUs in affinity / local ranks / parallel trials) | <int>
    # auto: on CPU under glibc, freed tensor memory stays in the process for the next step (framework.engine.allocator)
    cpu_allocator: str = "auto"  # auto | keep | system (malloc's defaults: freed blocks go back to the kernel)
    detect_anomaly_every_step: bool = False  # check loss and gradients for inf/nan every step (one host sync per step)
    compile: bool = False  # torch.compile the model (inductor: C++ on CPU, Triton on CUDA); checkpoints stay plain
    prefetch_batches: Optional[int] = None  # batches prepared ahead by a thread; null: 2 on CUDA (pinned), 0 on CPU
    strategy: str = "ddp"  # under torchrun: ddp (replicated model) | fsdp (FSDP2 fully_shard); ignored on one process
    # checks for the first hour with a new model (conf/debug/: debug=fast|overfit|limit|profile set these)
    verify_reload: bool = False  # at the end: reload the last checkpoint through the resume path, compare one step
    verify_predict: bool = False  # at the end: one call through the task's plait predict|translate|generate|answer
    overfit_batches: int = 0  # >0: train on the first n training batches only, repeated; judged by overfit_loss
    overfit_loss: float = 0.05  # with overfit_batches: the training loss to reach; the run fails when it does not
    # null, or {wait, warmup, active} in steps (ProfilerConfig): a torch.profiler trace into <run>/profile/. Typed
    # Any because OmegaConf cannot merge a command-line mapping into a null dataclass node; checked by validate()
    profiler: Any = None

    def validate(self) -> None:
        """Range checks, run by `framework.engine.validation.validate_config` before any work."""
        from framework.engine.allocator import SETTINGS as ALLOCATOR_SETTINGS
        from framework.engine.device import resolve_device
        from framework.engine.distributed import STRATEGIES
        from framework.engine.time_limit import parse_duration
        from framework.errors import ConfigValueError, PlaitError
        from framework.schema import above, at_least, between

        at_least(self, 1, "max_steps", "batch_size", "eval_batch_size", "grad_accum_steps", "log_every_n_steps")
        between(self, "seed", 0, MAX_SEED)  # numpy's seeding range
        at_least(
            self, 0, "eval_every_n_steps", "eval_samples", "checkpoint_every_n_steps", "keep_last_checkpoints",
            "prefetch_batches",
        )  # fmt: skip
        at_least(self, 0, "keep_best_checkpoints")
        at_least(self, 1, "max_tokens")
        above(self, 0, "clip_grad_norm")
        resolve_device(self.device)  # a device this machine lacks fails here, before Hydra writes the run directory
        at_least(self, 0, "overfit_batches")
        above(self, 0, "overfit_loss")
        try:
            self.early_stopping.validate()
        except ConfigValueError as exc:
            raise exc.under("early_stopping") from None
        if self.profiler is not None:
            profiler_window(self.profiler)
        if self.max_time is not None:
            parse_duration(self.max_time, "max_time")
        judged = {
            "early_stopping.patience": self.early_stopping.patience,
            "keep_best_checkpoints": self.keep_best_checkpoints,
        }
        for key, value in judged.items():
            if value and self.eval_every_n_steps == 0:
                raise ConfigValueError(
                    key, f"={value} needs periodic evaluation; set trainer.eval_every_n_steps above 0"
                )
        if self.checkpoint_dir:
            from framework.engine.remote_checkpoints import check_url

            check_url(self.checkpoint_dir)  # credentials or options in the URL, an unknown scheme, a missing extra
        if self.strategy not in STRATEGIES:
            raise PlaitError(f"trainer.strategy={self.strategy} is unknown; use one of {', '.join(STRATEGIES)}")
        if self.cpu_allocator not in ALLOCATOR_SETTINGS:
            raise ConfigValueError(
                "cpu_allocator", f"={self.cpu_allocator}: use one of {', '.join(ALLOCATOR_SETTINGS)}"
            )


@dataclass
class TrainConfig:
    """The composed configuration of one training run (`conf/train.yaml` fills it)."""

    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    task: Any = MISSING
    tokenizer: Any = MISSING
    model: Any = MISSING
    precision: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    logger: dict[str, Any] = field(default_factory=dict)  # several at once: logger=[console,jsonl]
    callback: dict[str, Any] = field(default_factory=dict)
    adapter: Any = field(default_factory=default_adapter)  # adapter=lora: train low-rank adapters, base frozen
    objective: str = "val/loss"  # metric returned to sweepers; what trainer.early_stopping.monitor=null watches
    data_root: Optional[str] = None  # where experiments find real data sets
    name: str = "plait"


def store_schemas() -> None:
    """Put the top-level schemas into Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="plait_train_schema", node=TrainConfig, provider="plait")
    cs.store(group="trainer", name="default", node=TrainerConfig, provider="plait")
    store_adapter_schemas()
