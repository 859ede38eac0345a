"""Loggers: LoggerContract, the callback checks (callbacks.py) for a factory that also takes the run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from framework.kinds import LOGGERS
from framework.registry import Registry
from framework.testing.callbacks import CallbackContract


class LoggerContract(CallbackContract):
    """Checks for a logger factory (`factory(cfg, *, run_dir, config)`): the callback checks plus metrics,
    samples, artifacts and summaries, close(), and resuming into the same run directory (it must continue,
    not start over)."""

    registry: ClassVar[Registry[Any]] = LOGGERS

    def deps(self, run_dir: Path) -> dict[str, Any]:
        """Loggers also receive the resolved run config as a plain dict."""
        return {"run_dir": run_dir, "config": {"trainer": {"max_steps": 4}, "model": {"_name_": "tiny"}}}
