"""Reopen a finished (or interrupted) run for evaluation and inference, from a run directory or a checkpoint."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from framework.checkpoint import is_complete, latest_checkpoint, load_state
from framework.config import TrainConfig
from framework.registry import PlaitError
from framework.run import Built, build_for_inference


def find_checkpoint(path: Path | str) -> Path:
    """A checkpoint directory from a checkpoint, a run directory, or a run's checkpoints/ directory."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PlaitError(f"{path} does not exist; pass a run directory or a checkpoint directory")
    if is_complete(path):
        return path
    for candidate in (path / "checkpoints", path):
        found = latest_checkpoint(candidate)
        if found is not None:
            return found
    raise PlaitError(f"no complete checkpoint under {path} (expected checkpoints/step_*/COMPLETE)")


def load_run(path: Path | str, device: str | None = None, overrides: list[str] | None = None) -> Built:
    """Rebuild task, tokenizers, model and precision from a checkpoint and load the trained weights.

    `overrides` are dotlist edits of the saved config (for example `task.test_path=...`).
    """
    checkpoint = find_checkpoint(path)
    state = load_state(checkpoint)
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(state["config"]))
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    if device is not None:
        cfg.trainer.device = device
    run_dir = checkpoint.parent.parent
    built = build_for_inference(cfg, run_dir, checkpoint)
    built.model.load_state_dict(state["model"])
    built.model.eval()
    return built
