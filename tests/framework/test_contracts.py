"""Every registered optimizer, scheduler, logger, callback and precision runs through its contract suite
from framework.testing.contracts (models and tokenizers: tests/plugins/models, tests/plugins/tokenizers)."""

from __future__ import annotations

import os
from typing import Any

from framework.kinds import CALLBACKS, LOGGERS, OPTIMIZERS, PRECISIONS, SCHEDULERS
from framework.plugins import load_plugins
from framework.registry import Registry
from framework.testing.contracts import (
    CallbackContract,
    LoggerContract,
    OptimizerContract,
    PrecisionContract,
    SchedulerContract,
)

load_plugins()

# options that keep a component local and quiet in tests (notify: a local port where nothing listens)
CONFIGS: dict[str, dict[str, Any]] = {
    "logger/wandb": {"mode": "disabled"},
    "callback/notify": {"url_env": "PLAIT_CONTRACT_NOTIFY_URL"},
}
os.environ.setdefault("PLAIT_CONTRACT_NOTIFY_URL", "json://127.0.0.1:9/contract")


def _generate(registry: Registry[Any], suite: type) -> None:
    for key in registry.names():
        name = f"Test_{registry.kind}_{key.replace('.', '_')}"
        config = CONFIGS.get(f"{registry.kind}/{key}", {})
        globals()[name] = type(name, (suite,), {"key": key, "config": config, "__module__": __name__})


_generate(OPTIMIZERS, OptimizerContract)
_generate(SCHEDULERS, SchedulerContract)
_generate(LOGGERS, LoggerContract)
_generate(CALLBACKS, CallbackContract)
_generate(PRECISIONS, PrecisionContract)
