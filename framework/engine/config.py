"""Top-level configuration schemas and their place in Hydra's ConfigStore.

Component options are not declared here: each component's dataclass lives next to it and is stored
in the ConfigStore when its plugin registers (see `framework.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

MAX_SEED = 2**32 - 1


@dataclass
class TrainerConfig:
    """Options of the training loop (`trainer.*`)."""

    max_steps: int = 300
    seed: int = 0  # 0 .. 2**32 - 1
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:1 ...
    batch_size: int = 32
    eval_batch_size: Optional[int] = None  # null: same as batch_size
    grad_accum_steps: int = 1
    clip_grad_norm: Optional[float] = 1.0  # null disables clipping
    log_every_n_steps: int = 10
    eval_every_n_steps: int = 100
    checkpoint_every_n_steps: int = 100  # 0 disables periodic checkpoints (the final one is still written)
    keep_last_checkpoints: int = 2  # newest periodic checkpoints kept on disk; 0 keeps them all
    resume: Optional[str] = None  # auto | <checkpoint or run dir> | null
    overwrite: bool = False  # replace a previous run in this directory: deletes its checkpoints and metrics
    deterministic: bool = False  # torch.use_deterministic_algorithms
    num_threads: str = "auto"  # CPU threads: auto (CPUs in affinity / local ranks / parallel trials) | <int>
    detect_anomaly_every_step: bool = False  # check loss and gradients for inf/nan every step (one host sync per step)
    compile: bool = False  # torch.compile the model (inductor: C++ on CPU, Triton on CUDA); checkpoints stay plain
    prefetch_batches: Optional[int] = None  # batches prepared ahead by a thread; null: 2 on CUDA (pinned), 0 on CPU
    strategy: str = "ddp"  # under torchrun: ddp (replicated model) | fsdp (FSDP2 fully_shard); ignored on one process

    def validate(self) -> None:
        """Range checks, run by `framework.engine.validation.validate_config` before any work."""
        from framework.engine.device import resolve_device
        from framework.engine.distributed import STRATEGIES
        from framework.errors import PlaitError
        from framework.schema import above, at_least, between

        at_least(self, 1, "max_steps", "batch_size", "eval_batch_size", "grad_accum_steps", "log_every_n_steps")
        between(self, "seed", 0, MAX_SEED)  # numpy's seeding range
        at_least(self, 0, "eval_every_n_steps", "checkpoint_every_n_steps", "keep_last_checkpoints", "prefetch_batches")
        above(self, 0, "clip_grad_norm")
        resolve_device(self.device)  # a device this machine lacks fails here, before Hydra writes the run directory
        if self.strategy not in STRATEGIES:
            raise PlaitError(f"trainer.strategy={self.strategy} is unknown; use one of {', '.join(STRATEGIES)}")


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
    objective: str = "val/loss"  # metric returned to sweepers
    data_root: Optional[str] = None  # where experiments find real data sets
    name: str = "plait"


def store_schemas() -> None:
    """Put the top-level schemas into Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="plait_train_schema", node=TrainConfig, provider="plait")
    cs.store(group="trainer", name="default", node=TrainerConfig, provider="plait")
