"""Checkpoint averaging (`plait average`): the uniform mean of the model weights of several checkpoints of a run,
written as one more checkpoint that every command opens (fairseq's `scripts/average_checkpoints.py`).

The newest checkpoint's config, task spec, tokenizer and step come along; training state (optimizer, scheduler,
precision, RNG, callbacks) does not, so the result is for inference and `trainer.resume` refuses it. It is written
with the checkpoint commit protocol (temporary directory, fsync, COMPLETE marker, rename) under
`<run>/checkpoints/averaged_<last|best><N>/`, a name that training never resumes nor prunes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.engine.checkpoint import (
    AVERAGED,
    PREFIX,
    TOKENIZER_DIR,
    Checkpointer,
    checkpoint_step,
    is_complete,
    list_checkpoints,
    load_state,
)
from framework.engine.run_lock import RunLock
from framework.engine.weights import average
from framework.errors import PlaitError

BEST_POINTER = "best.json"  # written by trainer.keep_best_checkpoints: {"ranked": [{"step", "value"}, ...]}, best first
TRAINING_ONLY = ("optimizer", "scheduler", "precision", "observers", "rng", "rng_ranks")


def checkpoints_dir(run: Path | str) -> Path:
    """The `checkpoints/` directory of a run directory (or that directory itself)."""
    path = Path(run).expanduser()
    for candidate in (path / "checkpoints", path):
        if list_checkpoints(candidate):
            return candidate
    raise PlaitError(f"no complete {PREFIX}* checkpoints under {path}; pass a run directory")


def last_checkpoints(directory: Path, n: int) -> list[Path]:
    """The newest `n` checkpoints, oldest first."""
    found = list_checkpoints(directory)
    if len(found) < n:
        raise PlaitError(
            f"--last {n}: {directory} keeps {len(found)} checkpoint(s) ({', '.join(p.name for p in found)}); "
            f"train with trainer.keep_last_checkpoints=0 (or >= {n}) to keep more, or average fewer"
        )
    return found[-n:]


def best_checkpoints(directory: Path, n: int) -> list[Path]:
    """The `n` best checkpoints by the run's monitored metric (its `best.json`), best first."""
    pointer = directory / BEST_POINTER
    if not pointer.is_file():
        raise PlaitError(
            f"--best {n}: {directory} names no best checkpoints (no {BEST_POINTER}); train with "
            f"trainer.keep_best_checkpoints={n}, or average the newest ones with --last {n}"
        )
    try:
        ranked = json.loads(pointer.read_text(encoding="utf-8"))["ranked"]
        found = [directory / f"{PREFIX}{int(entry['step']):07d}" for entry in ranked]
    except (ValueError, KeyError, TypeError) as exc:
        raise PlaitError(f"--best {n}: {pointer} is damaged ({exc})") from None
    found = [p for p in found if is_complete(p)]
    if len(found) < n:
        raise PlaitError(f"--best {n}: {directory} keeps {len(found)} best checkpoint(s); average fewer")
    return found[:n]


def averaged_state(paths: list[Path]) -> dict[str, Any]:
    """The newest checkpoint's state without training state, its model replaced by the mean of all `paths`."""
    states = [load_state(p) for p in paths]
    newest = max(range(len(paths)), key=lambda i: checkpoint_step(paths[i]))
    state = {k: v for k, v in states[newest].items() if k not in TRAINING_ONLY}
    state["model"] = average([s["model"] for s in states])
    state[AVERAGED] = {"checkpoints": [p.name for p in paths], "steps": [int(s["step"]) for s in states]}
    return state


def write_average(paths: list[Path], name: str) -> Path:
    """Average `paths` (checkpoints of one run) into the checkpoint `<their directory>/<name>`; returns it.

    Holds the run's lock meanwhile: a run still training there is not disturbed (RunDirectoryBusy names it).
    """
    if not name or name.startswith((PREFIX, ".")) or "/" in name or name == BEST_POINTER:
        raise PlaitError(f"name={name}: choose a plain directory name that does not start with '{PREFIX}' or '.'")
    directory = paths[0].parent
    with RunLock(directory.parent):
        return _write(paths, directory, name)


def _write(paths: list[Path], directory: Path, name: str) -> Path:
    state = averaged_state(paths)
    newest = max(paths, key=checkpoint_step)
    files = {TOKENIZER_DIR: newest / TOKENIZER_DIR} if (newest / TOKENIZER_DIR).exists() else {}
    return Checkpointer(directory, keep_last=0).save(int(state["step"]), state, files, name=name)
