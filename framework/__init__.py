"""Plait's core: the registry, the interfaces plugins implement, the loop and checkpoints.

Plugin authors import from here; nothing in this package names a concrete component.
"""

from framework.callback import Callback, TrainState
from framework.config import TrainConfig, TrainerConfig
from framework.logger import Logger
from framework.precision import PrecisionStrategy, UnsupportedPrecisionError
from framework.registry import (
    CALLBACKS,
    LOGGERS,
    MODELS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULERS,
    TASKS,
    TOKENIZERS,
    ComponentConfig,
    PlaitError,
    PluginInfo,
    Registry,
    UnknownComponentError,
)
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, Batch, Task, TaskSpec
from framework.tokenizer import SPECIAL_TOKENS, Tokenizer

__all__ = [
    "CALLBACKS",
    "CLASSIFICATION",
    "LANGUAGE_MODELING",
    "LOGGERS",
    "MODELS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULERS",
    "SEQ2SEQ",
    "SPECIAL_TOKENS",
    "TASKS",
    "TOKENIZERS",
    "Batch",
    "Callback",
    "ComponentConfig",
    "Logger",
    "PlaitError",
    "PluginInfo",
    "PrecisionStrategy",
    "Registry",
    "Task",
    "TaskSpec",
    "Tokenizer",
    "TrainConfig",
    "TrainState",
    "TrainerConfig",
    "UnknownComponentError",
    "UnsupportedPrecisionError",
]
