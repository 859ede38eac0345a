"""One owner per run directory: an advisory `flock` on `<run>/.lock` that records who holds it.

    with RunLock(run_dir):            # RunDirectoryBusy if another live process trains there
        check_fresh_or_resume(run_dir, cfg.trainer.resume, cfg.trainer.overwrite)
        ...train...

The kernel drops a `flock` when its holder dies (even by kill -9), so a lock file left behind by a
dead run is free and is simply taken over. The JSON inside (`pid`, `host`, `started`) only names the
owner in the error message, and lets a lock still held by a dead pid on this host (an orphaned child
that inherited the descriptor) be recognised as stale and broken.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from framework.engine.disk import writing
from framework.errors import PlaitError

LOCK_FILE = ".lock"
# What a previous run leaves in its directory; any of these means the directory is taken.
RUN_ARTIFACTS = ("checkpoints", "metrics.jsonl", "crash", "nan_report.json")

log = logging.getLogger(__name__)


class RunDirectoryBusy(PlaitError):
    """Another live process holds the run directory."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or held) a run directory's lock, as written into the lock file."""

    pid: int
    host: str
    started: str  # local time the owner took the lock, ISO 8601

    def describe(self) -> str:
        """`pid 123 on host h (since 2026-11-30T19:05:57)`."""
        return f"pid {self.pid} on host {self.host} (since {self.started})"


def _read_owner(fd: int) -> LockOwner | None:
    """The owner recorded in an open lock file, or None when it is empty or unreadable."""
    try:
        raw = os.pread(fd, 4096, 0)
        data = json.loads(raw.decode())
        return LockOwner(int(data["pid"]), str(data["host"]), str(data.get("started", "?")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    """True when a process with `pid` exists on this host (a zombie or another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive ownership of a run directory for one training process; use as a context manager."""

    def __init__(self, run_dir: Path | str) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.owner: LockOwner | None = None  # this process, once acquired
        self.note: str | None = None  # set when a stale lock was taken over: print it
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise RunDirectoryBusy naming the live owner; stale locks are taken over."""
        if self._fd is not None:
            return self
        with writing(f"the run directory {self.run_dir}", self.run_dir):
            self.run_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # retries only when another process replaced the file under us
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_owner(fd)
                if holder is not None and holder.host == socket.gethostname() and not _pid_alive(holder.pid):
                    self._break_stale(fd, holder)  # held by an orphan of a dead owner
                    os.close(fd)
                    continue
                os.close(fd)
                raise RunDirectoryBusy(self._busy_message(holder)) from None
            if not self._still_linked(fd):  # someone broke and replaced the file between open and flock
                os.close(fd)
                continue
            previous = _read_owner(fd)
            if previous is not None and self.note is None and previous.pid != os.getpid():
                self.note = (
                    f"took over the lock of {self.run_dir} left by {previous.describe()}, which is no longer running"
                )
                log.warning(self.note)
            with writing(f"the run lock {self.path}", self.run_dir, undo=partial(os.close, fd)):
                self._write_owner(fd)
            self._fd = fd
            return self
        raise RunDirectoryBusy(f"could not take the lock {self.path}: it keeps being replaced by another process")

    def release(self) -> None:
        """Give the lock up (the file stays; it is free once unlocked)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # -- internals -------------------------------------------------------------------------------

    def _open(self) -> int:
        with writing(f"the run lock {self.path}", self.run_dir):
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _break_stale(self, fd: int, holder: LockOwner) -> None:
        """Unlink a lock file still flocked by an orphan of dead `holder`, if it is still the same file."""
        if self._still_linked(fd):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.note = f"broke the stale lock of {self.run_dir}: {holder.describe()} is dead but its lock was still held"
        log.warning(self.note)

    def _write_owner(self, fd: int) -> None:
        """Record this process as the owner in the locked file `fd` (a full disk refuses the write: see acquire)."""
        self.owner = LockOwner(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%S"))
        data = json.dumps(asdict(self.owner)).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def _busy_message(self, holder: LockOwner | None) -> str:
        who = holder.describe() if holder is not None else "another process"
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            who = "this same process (a second training into the same directory)"
        return (
            f"the run directory {self.run_dir} is in use by {who}. Wait for it to finish or stop it, or train "
            f"into another directory (hydra.run.dir=<new dir>). If you are sure it is gone, delete {self.path}."
        )


def previous_run_files(run_dir: Path | str) -> list[Path]:
    """What an earlier run left in `run_dir` (checkpoints/, metrics.jsonl, crash/, nan_report.json); an empty file
    or directory is not a run (one that failed at its first step leaves an empty metrics.jsonl)."""
    run_dir = Path(run_dir)
    found = []
    for name in RUN_ARTIFACTS:
        path = run_dir / name
        if (path.is_file() and path.stat().st_size > 0) or (path.is_dir() and any(path.iterdir())):
            found.append(path)
    return found


def check_fresh_or_resume(run_dir: Path | str, resume: str | None, overwrite: bool) -> list[Path]:
    """Refuse to start afresh over another run's files; with `overwrite`, delete them instead.

    Call it while holding the RunLock, before anything is written. Returns the paths removed
    (empty unless `overwrite` found an earlier run). With `resume` set it does nothing: resuming
    continues the run that is there.
    """
    if resume:
        return []
    found = previous_run_files(run_dir)
    if not found:
        return []
    if not overwrite:
        names = ", ".join(p.name for p in found)
        raise PlaitError(
            f"the run directory {run_dir} already holds a run ({names}). Continue it with trainer.resume=auto, "
            f"start a new one in another directory (hydra.run.dir=<new dir>), or replace it with "
            f"trainer.overwrite=true (deletes its checkpoints and metrics)."
        )
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return found


def in_use(run_dir: Path | str) -> bool:
    """True when a live process holds the lock of `run_dir` (a lock left by a dead process is free)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_owner(fd)
            orphaned = holder is not None and holder.host == socket.gethostname() and not _pid_alive(holder.pid)
            return not orphaned
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
