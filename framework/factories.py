"""What each registry's factories build: `factory(cfg, **deps)` returns the kind's product type.

`Registry[T]` is generic over that product, so `MODELS.build(...)` is an `nn.Module`, `TASKS.build(...)` a
`Task`, and so on. The aliases below name the factory a plugin registers for each kind, with the keyword
dependencies the build path passes to it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from framework.callback import Callback
from framework.logger import Logger
from framework.precision import PrecisionStrategy
from framework.task import Task
from framework.tokenizer import Tokenizer

TokenizerBuilder = Callable[..., Tokenizer]  # factory(cfg) -> Tokenizer (task.TokenizerFactory is the task's hook)
ModelFactory = Callable[..., nn.Module]  # factory(cfg, *, spec: TaskSpec) -> nn.Module
PrecisionFactory = Callable[..., PrecisionStrategy]  # factory(cfg) -> PrecisionStrategy
OptimizerFactory = Callable[..., Optimizer]  # factory(cfg, *, model: nn.Module) -> Optimizer
SchedulerFactory = Callable[..., LRScheduler]  # factory(cfg, *, optimizer: Optimizer, max_steps: int) -> LRScheduler
TaskFactory = Callable[..., Task]  # factory(cfg) -> Task
LoggerFactory = Callable[..., Logger]  # factory(cfg, *, run_dir: Path, config: dict[str, Any]) -> Logger
CallbackFactory = Callable[..., Callback]  # factory(cfg, *, run_dir: Path) -> Callback

__all__ = [
    "CallbackFactory",
    "LoggerFactory",
    "ModelFactory",
    "OptimizerFactory",
    "PrecisionFactory",
    "SchedulerFactory",
    "TaskFactory",
    "TokenizerBuilder",
]
