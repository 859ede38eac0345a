"""The component kinds: one typed registry each, in one list that every other module reads.

A kind's contract (what its components implement) is in its own module — `task.py`, `tokenizer.py`,
`precision.py`, `logger.py`, `callback.py`; models, optimizers and schedulers are torch's own types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.errors import PlaitError, closest
from framework.registry import Registry

if TYPE_CHECKING:
    from torch import nn
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

    from framework.callback import Callback
    from framework.logger import Logger
    from framework.precision import PrecisionStrategy
    from framework.task import Task
    from framework.tokenizer import Tokenizer

TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer")
MODELS: Registry[nn.Module] = Registry("model")
PRECISIONS: Registry[PrecisionStrategy] = Registry("precision")
OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
SCHEDULERS: Registry[LRScheduler] = Registry("scheduler")
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
