"""Plait's core: the registry, the interfaces plugins implement, the loop and checkpoints.

Plugin authors import from here (`from framework import MODELS, ComponentConfig, TaskSpec`);
nothing in this package names a concrete component. Names load lazily so `plait --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "framework.registry": [
        "CALLBACKS", "LOGGERS", "MODELS", "OPTIMIZERS", "PRECISIONS", "SCHEDULERS", "TASKS", "TOKENIZERS",
        "ComponentConfig", "PlaitError", "PluginInfo", "Registry", "UnknownComponentError",
    ],
    "framework.callback": ["Callback", "TrainState"],
    "framework.config": ["TrainConfig", "TrainerConfig"],
    "framework.logger": ["Logger"],
    "framework.params": ["param_groups"],
    "framework.plugins": ["PLAIT_API"],
    "framework.precision": ["PrecisionStrategy", "UnsupportedPrecisionError"],
    "framework.task": ["CLASSIFICATION", "LANGUAGE_MODELING", "SEQ2SEQ", "Batch", "Task", "TaskSpec"],
    "framework.tokenizer": ["SPECIAL_TOKENS", "Tokenizer"],
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'framework' has no attribute '{name}'")
