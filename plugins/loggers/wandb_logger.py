"""Weights & Biases logger: offline unless asked otherwise, never prompts, resumes the same run id."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, cast

from framework import Choice, ComponentConfig, Logger, PlaitError, TrainState, scrub_argv, scrub_config


class WandbMode(Choice):
    """Where W&B sends the run (`logger.wandb.mode`)."""

    offline = "offline"
    online = "online"
    disabled = "disabled"


@dataclass
class WandbLoggerConfig(ComponentConfig):
    """Options of the W&B logger. Credentials come from the environment (WANDB_API_KEY), never from here."""

    mode: Optional[WandbMode] = None  # where runs go; null: $WANDB_MODE, else offline
    project: str = "plait"  # W&B project
    entity: Optional[str] = None  # W&B team or user; null: the account default
    group: Optional[str] = None  # group runs (a sweep sets this); null: none
    tags: list[str] = field(default_factory=list)  # free-form run tags
    name: Optional[str] = None  # display name; null: W&B picks one


@contextlib.contextmanager
def scrubbed_argv() -> Iterator[None]:
    """W&B records `sys.argv[1:]` as the run's program arguments when it starts: hide credential-looking ones."""
    saved = sys.argv
    sys.argv = scrub_argv(list(saved))
    try:
        yield
    finally:
        sys.argv = saved


class WandbLogger(Logger):
    """Logs the resolved config and every metric; the run directory lives under `<run_dir>/wandb`."""

    def __init__(self, cfg: WandbLoggerConfig, run_dir: Path, config: dict[str, Any]) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.config = scrub_config(config)
        self.mode = str(cfg.mode or os.environ.get("WANDB_MODE") or "offline")
        if self.mode not in WandbMode.values():
            raise PlaitError(f"WANDB_MODE='{self.mode}' is not known; use {', '.join(WandbMode.values())}")
        self.run_id: str | None = None
        self.location: str | None = None  # the run's page (online) or its offline folder, once started
        self._run: Any = None

    def on_fit_start(self, state: TrainState) -> None:
        import wandb  # heavy: imported only when a run actually logs to W&B

        if self.mode == "online" and not (os.environ.get("WANDB_API_KEY") or wandb.api.api_key):
            raise PlaitError(
                "logger.wandb.mode=online needs W&B credentials: set WANDB_API_KEY (or run `wandb login`), "
                "or keep the default offline mode and `wandb sync` later"
            )
        self.run_id = self.run_id or uuid.uuid4().hex[:8]
        with scrubbed_argv():  # W&B records sys.argv here
            self._run = wandb.init(
                project=self.cfg.project,
                entity=self.cfg.entity,
                group=self.cfg.group,
                tags=list(self.cfg.tags),
                name=self.cfg.name,
                config=self.config,
                dir=str(self.run_dir),
                mode=cast(Literal["offline", "online", "disabled"], self.mode),  # a WandbMode value, checked above
                id=self.run_id,
                resume="allow",
                settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
            )
        if self.mode == "online":
            self.location = self._run.url
        elif self.mode == "offline":
            self.location = str(self._run.settings.sync_dir)  # <run_dir>/wandb/offline-run-<time>-<id>: `wandb sync` it

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._run is not None:
            self._run.log(metrics, step=step)

    def log_samples(self, name: str, rows: list[dict[str, str]], step: int) -> None:
        """A `wandb.Table` under `name` (columns: every key of the rows, in first-seen order)."""
        if self._run is not None and rows:
            import wandb

            columns: list[str | int] = list(dict.fromkeys(k for row in rows for k in row))
            table = wandb.Table(columns=columns, data=[[row.get(str(c), "") for c in columns] for row in rows])
            self._run.log({name: table}, step=step)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """A copy in the run's files (the Files tab; uploaded now online, by `wandb sync` offline)."""
        if self._run is not None:
            target = Path(self._run.dir) / (name or Path(path).name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            self._run.save(str(target), base_path=self._run.dir, policy="now")

    def log_summary(self, summary: dict[str, float | str]) -> None:
        if self._run is not None:
            self._run.summary.update(summary)

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._run is not None:
            self._run.finish(exit_code=0 if status == "finished" else 1)
            self._run = None

    def run_location(self) -> str | None:
        """The W&B run's URL (online) or its offline run folder (to `wandb sync`); None when disabled."""
        return self.location

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id") or self.run_id


def build_wandb(cfg: WandbLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> WandbLogger:
    """Weights & Biases (offline by default; `wandb sync` uploads later)."""
    return WandbLogger(cfg, run_dir, config)
