"""Callbacks: the events of a short fit in the trainer's order, and CallbackContract, the checks every
callback passes (LoggerContract in loggers.py extends it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch

from framework.callback import TrainState
from framework.kinds import CALLBACKS
from framework.logger import Logger
from framework.registry import Registry
from framework.testing.components import build_component, check_documented


def drive_events(observer: Any, run_dir: Path, *, steps: int, start: int = 0) -> None:
    """Send `observer` the events of a short fit, in the order the trainer emits them (framework/callback.py),
    with a small model whose weights change every step and a stand-in `state.evaluate`; a Logger also gets
    metrics, validation samples, the files the core hands over (framework/engine/tracking.py), a summary; then
    on_run_end(state, "finished") and, for a Logger, close()."""
    model = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(model.weight, 0.0)

    def evaluate(split: str = "val", weights: Any = None, *, prefix: str | None = None) -> dict[str, float]:
        return {f"{prefix or split}/loss": 0.5}

    state = TrainState(step=start, max_steps=start + steps, run_dir=run_dir, model=model, evaluate=evaluate)
    logger = observer if isinstance(observer, Logger) else None
    observer.on_fit_start(state)
    if logger is not None:
        (run_dir / "config.yaml").write_text("trainer:\n  max_steps: 4\n")
        logger.log_artifact(run_dir / "config.yaml")
    for step in range(start + 1, start + steps + 1):
        state.step = step
        with torch.no_grad():
            model.weight.add_(1.0)  # what an optimizer step would change
        observer.on_step_end(state)
        if logger is not None:
            logger.log_metrics({"train/loss": 1.0 / step, "train/lr": 1e-3}, step)
        if step % 2 == 0:
            if logger is not None:
                logger.log_metrics({"val/loss": 0.5, "val/accuracy": 0.75}, step)
            observer.on_eval_end(state, {"val/loss": 0.5, "val/accuracy": 0.75})
            if logger is not None:
                logger.log_samples("val/samples", [{"source": "a | b", "reference": "c", "output": "d\ne"}], step)
            (run_dir / f"ckpt-{step}").mkdir(exist_ok=True)
            observer.on_checkpoint(state, run_dir / f"ckpt-{step}")
    observer.on_fit_end(state, {"val/loss": 0.5})
    if logger is not None:
        logger.log_summary({"run_dir": str(run_dir), "val/accuracy": 0.75})
        (run_dir / "summary.json").write_text('{"val/accuracy": 0.75}\n')
        logger.log_artifact(run_dir / "summary.json", "final/summary.json")
    observer.on_run_end(state, "finished", None)
    if logger is not None:
        logger.close(state, "finished")


class CallbackContract:
    """Checks for a callback factory (`factory(cfg, *, run_dir)`): it survives every event in order, and its
    state_dict is checkpoint-safe (loads with weights_only) and restores into a fresh instance (resume)."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    registry: ClassVar[Registry[Any]] = CALLBACKS

    def build(self, run_dir: Path) -> Any:
        """The component under test writing into `run_dir`."""
        return build_component(self.registry, self.key, self.config, **self.deps(run_dir))

    def deps(self, run_dir: Path) -> dict[str, Any]:
        """The keyword arguments the factory receives (framework/engine/build.py)."""
        return {"run_dir": run_dir}

    def test_survives_every_event_in_order(self, tmp_path: Path) -> None:
        drive_events(self.build(tmp_path), tmp_path, steps=4)

    def test_state_round_trip_and_resume(self, tmp_path: Path) -> None:
        first = self.build(tmp_path)
        drive_events(first, tmp_path, steps=2)
        torch.save(first.state_dict(), tmp_path / "state.pt")
        state = torch.load(tmp_path / "state.pt", weights_only=True)  # what checkpoints allow
        json.dumps(state, default=str)
        resumed = self.build(tmp_path)
        resumed.load_state_dict(state)
        drive_events(resumed, tmp_path, steps=2, start=2)

    def test_options_are_documented(self) -> None:
        check_documented(self.registry, self.key)
