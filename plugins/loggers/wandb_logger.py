"""Weights & Biases logger: offline unless asked otherwise, never prompts, resumes the same run id."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from framework.callback import TrainState
from framework.logger import Logger
from framework.registry import LOGGERS, ComponentConfig, PlaitError

SECRET_KEY = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


@dataclass
class WandbLoggerConfig(ComponentConfig):
    """Options of the W&B logger. Credentials come from the environment (WANDB_API_KEY), never from here."""

    mode: Optional[str] = None  # offline | online | disabled; null: $WANDB_MODE, else offline
    project: str = "plait"  # W&B project
    entity: Optional[str] = None  # W&B team or user; null: the account default
    group: Optional[str] = None  # group runs (a sweep sets this); null: none
    tags: list[str] = field(default_factory=list)  # free-form run tags
    name: Optional[str] = None  # display name; null: W&B picks one


def scrub(config: Any) -> Any:
    """A copy of `config` without keys that look like credentials."""
    if isinstance(config, dict):
        return {k: scrub(v) for k, v in config.items() if not SECRET_KEY.search(str(k))}
    if isinstance(config, list):
        return [scrub(v) for v in config]
    return config


class WandbLogger(Logger):
    """Logs the resolved config and every metric; the run directory lives under `<run_dir>/wandb`."""

    def __init__(self, cfg: WandbLoggerConfig, run_dir: Path, config: dict) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.config = scrub(config)
        self.mode = cfg.mode or os.environ.get("WANDB_MODE") or "offline"
        if self.mode not in ("offline", "online", "disabled"):
            raise PlaitError(f"logger.wandb.mode='{self.mode}' is not known; use offline, online or disabled")
        self.run_id: str | None = None
        self._run: Any = None

    def on_fit_start(self, state: TrainState) -> None:
        import wandb  # heavy: imported only when a run actually logs to W&B

        if self.mode == "online" and not (os.environ.get("WANDB_API_KEY") or wandb.api.api_key):
            raise PlaitError(
                "logger.wandb.mode=online needs W&B credentials: set WANDB_API_KEY (or run `wandb login`), "
                "or keep the default offline mode and `wandb sync` later"
            )
        self.run_id = self.run_id or uuid.uuid4().hex[:8]
        self._run = wandb.init(
            project=self.cfg.project,
            entity=self.cfg.entity,
            group=self.cfg.group,
            tags=list(self.cfg.tags),
            name=self.cfg.name,
            config=self.config,
            dir=str(self.run_dir),
            mode=self.mode,
            id=self.run_id,
            resume="allow",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._run is not None:
            self._run.log(metrics, step=step)

    def log_summary(self, summary: dict[str, float | str]) -> None:
        if self._run is not None:
            self._run.summary.update(summary)

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._run is not None:
            self._run.finish(exit_code=0 if status == "finished" else 1)
            self._run = None

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id") or self.run_id


@LOGGERS.register("wandb", config=WandbLoggerConfig)
def build_wandb(cfg: WandbLoggerConfig, *, run_dir: Path, config: dict) -> WandbLogger:
    """Weights & Biases (offline by default; `wandb sync` uploads later)."""
    return WandbLogger(cfg, run_dir, config)
