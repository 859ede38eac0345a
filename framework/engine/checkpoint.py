"""Checkpoints that survive crashes: written under a temporary name, fsynced, marked complete, then renamed.

Layout of one checkpoint: `checkpoints/step_000100/{state.pt, COMPLETE, tokenizer/...}`. Only
directories holding the COMPLETE marker are ever resumed. Every intermediate state a kill can leave
is recognised by `clean_leftovers`, which the next start runs: `.tmp-*` (a save or a pruning that did
not finish: deleted), `.old-step_N-*` (a checkpoint being replaced by a new save of the same step:
put back when the new one never arrived) and `step_N/` without COMPLETE (deleted).

A save commits the new checkpoint before pruning any old one, so `keep_last=1` always leaves one
complete checkpoint. Loading is `weights_only` (no code is unpickled); `load_latest` falls back to the
newest checkpoint that loads and says which ones it skipped and why.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from framework.engine.disk import disk_write_error
from framework.errors import PlaitError
from framework.files import fsync_dir
from framework.tokenizer import directory_digest

STATE_FILE = "state.pt"
MARKER = "COMPLETE"
PREFIX = "step_"
TOKENIZER_DIR = "tokenizer"
AVERAGED = "averaged"  # state key of a checkpoint `plait average` wrote: for inference, never resumed
# PLAIT_FAULT_INJECT=<point>:<step>[,...] kills the process (exit 137, like kill -9) at that point of the
# save of that step. A test hook for tests/framework/test_torture.py; the points are listed here.
FAULT_ENV = "PLAIT_FAULT_INJECT"
FAULT_POINTS = ("after_temp_write", "before_rename", "replacing", "after_rename", "during_prune", "during_upload")

KEEP_FEWER = " (or lower trainer.keep_last_checkpoints)"

log = logging.getLogger(__name__)


class CheckpointLoadError(PlaitError):
    """A checkpoint that exists but cannot be used; `reason` says why in one sentence."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(reason)


class Loaded(NamedTuple):
    """A checkpoint that loaded, its state, and the newer ones skipped on the way as (path, reason)."""

    path: Path
    state: dict[str, Any]
    skipped: list[tuple[Path, str]]

    def note_skipped(self) -> None:
        """Tell the user on stderr which newer checkpoints were skipped on the way, and why."""
        for skipped, why in self.skipped:
            print(f"note: skipped checkpoint {skipped}: {why}", file=sys.stderr)


def fault_point(name: str, step: int) -> None:
    """Die like kill -9 here when PLAIT_FAULT_INJECT names this point and step (tests only)."""
    spec = os.environ.get(FAULT_ENV)
    if spec and f"{name}:{step}" in spec.split(","):
        os._exit(137)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root`, then `root` itself (before a commit by rename)."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(root)


def checkpoint_step(path: Path) -> int:
    """The step a `step_NNNNNNN` checkpoint directory holds."""
    return int(Path(path).name[len(PREFIX) :])


def _is_step_dir(path: Path) -> bool:
    return path.name.startswith(PREFIX) and path.name[len(PREFIX) :].isdigit() and path.is_dir()


def is_complete(path: Path) -> bool:
    """True when `path` is a checkpoint directory whose write finished."""
    return (path / MARKER).is_file() and (path / STATE_FILE).is_file()


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _is_step_dir(p) and is_complete(p)]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint in `directory`, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def find_checkpoints(path: Path | str) -> list[Path]:
    """Complete checkpoints, newest first, from a checkpoint directory, a run directory or its checkpoints/.

    A checkpoint directory gives just itself. A path that does not exist is an error; one holding no
    complete checkpoint gives an empty list.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise PlaitError(f"{path} does not exist; pass a run directory, its checkpoints/ or a checkpoint directory")
    if is_complete(path):
        return [path]
    for candidate in (path / "checkpoints", path):
        found = list_checkpoints(candidate)
        if found:
            return found[::-1]
    return []


def load_latest(path: Path | str, map_location: str | torch.device = "cpu", verify: bool = True) -> Loaded | None:
    """Load the newest checkpoint under `path` (see find_checkpoints) that loads, skipping damaged ones.

    With `verify`, a checkpoint whose tokenizer does not match its recorded hash counts as damaged.
    None when there is no complete checkpoint at all; a PlaitError listing every reason when none loads.
    """
    skipped: list[tuple[Path, str]] = []
    for candidate in find_checkpoints(path):
        try:
            state = load_state(candidate, map_location)
            if verify:
                verify_tokenizer(candidate, state.get("tokenizer_sha256", ""))
        except CheckpointLoadError as exc:
            skipped.append((candidate, exc.reason))
            log.warning("skipped checkpoint %s: %s", candidate, exc.reason)
            continue
        return Loaded(candidate, state, skipped)
    if skipped:
        reasons = "; ".join(f"{p.name}: {why}" for p, why in skipped)
        raise PlaitError(f"no checkpoint under {path} could be loaded ({reasons})")
    return None


def load_resume(resume: str, run_dir: Path, map_location: str | torch.device = "cpu") -> Loaded | None:
    """`trainer.resume` loaded: `auto` gives None when the run has no checkpoint yet; a path must hold one."""
    if resume == "auto":
        directory = Path(run_dir) / "checkpoints"
        return load_latest(directory, map_location) if directory.is_dir() else None
    loaded = load_latest(resume, map_location)
    if loaded is None:
        raise PlaitError(f"trainer.resume: no complete checkpoint in {resume} (looked for {PREFIX}*/{MARKER}).")
    if AVERAGED in loaded.state:
        raise PlaitError(
            f"trainer.resume: {loaded.path} holds averaged weights for inference (plait average), not a "
            f"training state; resume from one of the run's {PREFIX}* checkpoints"
        )
    return loaded


def verify_tokenizer(checkpoint_dir: Path, recorded_sha256: str | None) -> None:
    """Raise CheckpointLoadError naming the file when the checkpoint's tokenizer/ is not the one it was saved with."""
    if not recorded_sha256:
        return  # nothing recorded (a run without tokenizer files)
    directory = Path(checkpoint_dir) / TOKENIZER_DIR
    if not directory.is_dir():
        raise CheckpointLoadError(checkpoint_dir, f"{directory} is missing but its hash is recorded in {STATE_FILE}")
    if directory_digest(directory) == recorded_sha256:
        return
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for file in files:  # name the damaged file when it is unreadable JSON
        if file.suffix == ".json":
            try:
                json.loads(file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise CheckpointLoadError(
                    checkpoint_dir, f"the tokenizer file {file} is damaged (not valid JSON: {exc})"
                ) from None
    names = ", ".join(str(f.relative_to(directory)) for f in files[:6]) + (", ..." if len(files) > 6 else "")
    raise CheckpointLoadError(
        checkpoint_dir,
        f"the tokenizer files in {directory} ({names}) differ from the ones this checkpoint was trained with "
        f"(sha256 recorded in {STATE_FILE}); one was changed or damaged after training",
    )


def clean_leftovers(directory: Path) -> list[Path]:
    """Remove what killed saves and prunings left in a checkpoints directory; put back a replaced checkpoint.

    Run it at the start of training, holding the run lock, before looking for a checkpoint to resume.
    Returns the paths removed.
    """
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".old-"):  # .old-step_N-<pid>: a same-step save died between its two renames
            original = directory / path.name[len(".old-") :].rsplit("-", 1)[0]
            if is_complete(path) and not original.exists():
                os.replace(path, original)
                log.warning("restored checkpoint %s from an interrupted save", original)
                continue
        elif not (path.name.startswith(".tmp-") or (_is_step_dir(path) and not is_complete(path))):
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        fsync_dir(directory)
    return removed


class Keeper(Protocol):
    """Which checkpoints outlive pruning by age, and the file that names them (framework.engine.stopping.Watch:
    the best ones and `best.json`)."""

    def kept_steps(self) -> set[int]:
        """Steps whose checkpoints pruning must keep."""

    def write_pointer(self, directory: Path) -> None:
        """Name the kept checkpoints in `directory`, atomically; called after a save commits, before pruning."""


class Mirror(Protocol):
    """A remote copy of the checkpoints (framework.engine.remote_checkpoints): a save waits for the upload in flight
    before committing, prunes only what was uploaded, then hands the new checkpoint over."""

    def wait(self) -> str | None:
        """Block until the upload in flight is done; returns what went wrong when it failed."""

    def is_confirmed(self, checkpoint: Path) -> bool:
        """True when `checkpoint` is complete remotely, so its local copy may be pruned."""

    def submit(self, checkpoint: Path, keep: set[int]) -> None:
        """Upload `checkpoint` in the background; then drop the remote checkpoints whose steps are not in `keep`."""


class Checkpointer:
    """Writes atomic checkpoints into one directory and keeps the newest `keep_last` (0: all), and those `keeper`
    keeps; with a `mirror`, each is also uploaded and a local copy is pruned only once uploaded."""

    def __init__(self, directory: Path, keep_last: int = 2, keeper: Keeper | None = None) -> None:
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.keeper = keeper
        self.mirror: Mirror | None = None

    def save(
        self,
        step: int,
        state: dict[str, Any],
        files: dict[str, Path] | None = None,
        *,
        name: str = "",
    ) -> Path:
        """Write `state` (and copies of `files`: name -> file or directory) as the checkpoint of `step`.

        The new checkpoint is committed (renamed into place) before any older one is pruned; the keeper names
        what it keeps in between, and pruning spares it. A full disk raises PlaitError naming the path and the
        free space, leaving no temporary directory.
        `name`: another directory name than `step_N` (`averaged_last3`): never resumed nor pruned.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        clean_leftovers(self.directory)  # debris of a killed earlier save (cheap: one directory listing)
        final = self.directory / (name or f"{PREFIX}{step:07d}")
        tmp = self.directory / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            torch.save(state, tmp / STATE_FILE)
            for entry, src in (files or {}).items():
                if src.is_dir():
                    shutil.copytree(src, tmp / entry)
                elif src.is_file():
                    shutil.copy2(src, tmp / entry)
            fault_point("after_temp_write", step)
            (tmp / MARKER).write_text(f"step {step}\n")
            fsync_tree(tmp)
        except BaseException as exc:  # an error or a second Ctrl-C: leave no temporary directory
            shutil.rmtree(tmp, ignore_errors=True)
            then = "resume with trainer.resume=auto; the previous checkpoints are intact"
            error = disk_write_error(exc, f"the checkpoint {final}", self.directory, then, tip=KEEP_FEWER)
            if error is None:
                raise
            raise error from exc
        fault_point("before_rename", step)
        if self.mirror is not None and not name:
            self.mirror.wait()  # the previous upload: done before this commit replaces or prunes what it reads
        if final.exists():  # re-saving a step: move the old one aside so a complete one always exists
            old = self.directory / f".old-{final.name}-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            fault_point("replacing", step)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(self.directory)
        fault_point("after_rename", step)
        if not name:
            if self.keeper is not None:
                self.keeper.write_pointer(self.directory)
            kept = self._prune(step, self.keeper.kept_steps() if self.keeper is not None else set())
            if self.mirror is not None:
                self.mirror.submit(final, kept)
        return final

    def _prune(self, step: int, keep: set[int]) -> set[int]:
        """Drop checkpoints beyond `keep_last` except those of `keep`, and any of a later step (an abandoned timeline
        after a resume); returns the steps kept. With a mirror, a local copy not yet uploaded stays until it is."""
        existing = [p for p in list_checkpoints(self.directory) if checkpoint_step(p) != step]
        later = [p for p in existing if checkpoint_step(p) > step]
        earlier = [p for p in existing if checkpoint_step(p) < step]
        doomed = later + (earlier[: len(earlier) - (self.keep_last - 1)] if self.keep_last > 0 else [])
        doomed = [p for p in doomed if checkpoint_step(p) not in keep or checkpoint_step(p) > step]
        kept = {checkpoint_step(p) for p in existing if p not in doomed} | {step}
        if self.mirror is not None:
            doomed = [p for p in doomed if self.mirror.is_confirmed(p)]
        for old in doomed:
            trash = self.directory / f".tmp-prune-{old.name}-{os.getpid()}"
            os.replace(old, trash)  # atomic: the checkpoint is either whole and named, or gone
            fault_point("during_prune", step)
            shutil.rmtree(trash, ignore_errors=True)
        if doomed:
            fsync_dir(self.directory)
        return kept


def load_state(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint's state safely (`weights_only=True`: no code is unpickled).

    A damaged or unsafe state.pt raises CheckpointLoadError with the reason in Plait's words.
    """
    path = Path(path)
    if not is_complete(path):
        raise PlaitError(f"{path} is not a complete checkpoint (missing {MARKER} or {STATE_FILE}).")
    file = path / STATE_FILE
    try:
        state: dict[str, Any] = torch.load(file, map_location=map_location, weights_only=True)
        return state
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "global" in str(exc):  # torch's weights-only refusal of a Python object
            raise CheckpointLoadError(
                path,
                f"refused to load {file}: it contains objects other than tensors and plain data, so loading it "
                f"could run code; Plait never loads such files",
            ) from None
        raise CheckpointLoadError(path, f"{file} is damaged (its data cannot be unpickled)") from None
    except (RuntimeError, EOFError, ValueError) as exc:
        detail = str(exc).split(". ")[0].strip() or type(exc).__name__
        raise CheckpointLoadError(path, f"{file} is damaged (truncated or corrupt: {detail})") from None


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
