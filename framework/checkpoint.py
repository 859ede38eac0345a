"""Checkpoints that survive crashes: written under a temporary name, fsynced, marked complete, then renamed.

Layout of one checkpoint: `checkpoints/step_000100/{state.pt, COMPLETE, tokenizer/...}`. Only
directories holding the COMPLETE marker are ever resumed; a crash mid-write leaves a `.tmp-*`
directory that is ignored and cleaned up by the next save.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framework.registry import PlaitError

STATE_FILE = "state.pt"
MARKER = "COMPLETE"
PREFIX = "step_"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(root)


def is_complete(path: Path) -> bool:
    """True when `path` is a checkpoint directory whose write finished."""
    return (path / MARKER).is_file() and (path / STATE_FILE).is_file()


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.name.startswith(PREFIX) and is_complete(p)]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint in `directory`, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def resolve_resume(resume: str, run_dir: Path) -> Path | None:
    """Turn `trainer.resume` (auto | a checkpoint dir | a run dir) into a checkpoint path.

    `auto` with nothing to resume returns None (a fresh start); an explicit path that holds no
    complete checkpoint is an error naming the path.
    """
    if resume == "auto":
        return latest_checkpoint(run_dir / "checkpoints")
    path = Path(resume).expanduser()
    if is_complete(path):
        return path
    for candidate in (path, path / "checkpoints"):
        found = latest_checkpoint(candidate)
        if found is not None:
            return found
    if not path.exists():
        raise PlaitError(f"trainer.resume: {path} does not exist. Pass a checkpoint or run directory, or 'auto'.")
    raise PlaitError(f"trainer.resume: no complete checkpoint in {path} (looked for {PREFIX}*/{MARKER}).")


class Checkpointer:
    """Writes atomic checkpoints into one directory and keeps the newest `keep_last`."""

    def __init__(self, directory: Path, keep_last: int = 2) -> None:
        self.directory = Path(directory)
        self.keep_last = keep_last

    def save(self, step: int, state: dict[str, Any], files: dict[str, Path] | None = None) -> Path:
        """Write `state` (and copies of `files`: name -> file or directory) as the checkpoint of `step`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        final = self.directory / f"{PREFIX}{step:07d}"
        tmp = self.directory / f".tmp-{final.name}-{os.getpid()}"
        tmp.mkdir()
        torch.save(state, tmp / STATE_FILE)
        for name, src in (files or {}).items():
            if src.is_dir():
                shutil.copytree(src, tmp / name)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / MARKER).write_text(f"step {step}\n")
        _fsync_tree(tmp)
        if final.exists():  # re-saving the same step (e.g. final save after a periodic one)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(self.directory)
        self._prune()
        return final

    def _prune(self) -> None:
        if self.keep_last <= 0:
            return
        for old in list_checkpoints(self.directory)[: -self.keep_last]:
            (old / MARKER).unlink()  # un-mark first: a crash mid-delete leaves an ignored directory
            shutil.rmtree(old, ignore_errors=True)


def load_state(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint's state safely (`weights_only=True`: no code is unpickled)."""
    if not is_complete(path):
        raise PlaitError(f"{path} is not a complete checkpoint (missing {MARKER} or {STATE_FILE}).")
    return torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)


def rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch and CUDA, in a form `weights_only` loading accepts."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore `rng_state()`."""
    random.setstate(state["python"])
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
