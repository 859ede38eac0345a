"""The component kinds: one typed registry each, in one list that every other module reads.

A kind's contract (what its components implement) is in its own module — `task.py`, `tokenizer.py`,
`precision.py`, `logger.py`, `callback.py`; models and optimizers are torch's own types, schedulers anything
shaped like torch's LRScheduler (`Scheduler` below).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from framework.errors import PlaitError, closest
from framework.registry import Registry

if TYPE_CHECKING:
    from torch import nn
    from torch.optim import Optimizer

    from framework.callback import Callback
    from framework.logger import Logger
    from framework.precision import PrecisionStrategy
    from framework.task import Task
    from framework.tokenizer import Tokenizer


class Scheduler(Protocol):
    """What the trainer calls on a scheduler: torch's LRScheduler has it, and so may a lighter class.

    Optional: `observe(metrics: dict[str, float]) -> None`, which the trainer calls after each validation during
    training with its metrics (`val/loss`, ...), before the checkpoint of that step: for metric-driven schedules.
    """

    def step(self) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any], /) -> None: ...


TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer")
MODELS: Registry[nn.Module] = Registry("model")
PRECISIONS: Registry[PrecisionStrategy] = Registry("precision")
OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
SCHEDULERS: Registry[Scheduler] = Registry("scheduler")
TASKS: Registry[Task] = Registry("task")
LOGGERS: Registry[Logger] = Registry("logger", multi=True)
CALLBACKS: Registry[Callback] = Registry("callback", multi=True)

#: Every kind, in the order of `plait list`: the one list of kinds that the rest of the core reads.
REGISTRIES: dict[str, Registry[Any]] = {
    r.kind: r for r in (TOKENIZERS, MODELS, PRECISIONS, OPTIMIZERS, SCHEDULERS, TASKS, LOGGERS, CALLBACKS)
}
COMPONENT_GROUPS: tuple[str, ...] = tuple(REGISTRIES)


def registry_for(kind: str) -> Registry[Any]:
    """The registry of one kind; an unknown kind lists the known kinds."""
    if kind in REGISTRIES:
        return REGISTRIES[kind]
    near = closest(kind, list(REGISTRIES))
    hint = f" Closest match: '{near}'." if near else ""
    raise PlaitError(f"Unknown component kind '{kind}'. Kinds: {', '.join(REGISTRIES)}.{hint}")
