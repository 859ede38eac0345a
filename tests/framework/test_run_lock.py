"""Run directory ownership: one live holder, stale locks taken over, no silent restart over a finished run."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework.engine.run_lock import LOCK_FILE, RunDirectoryBusy, RunLock, check_fresh_or_resume, in_use
from framework.errors import DiskWriteError, PlaitError

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import os, sys, time
from framework.engine.run_lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes stdin
"""

# The owner forks a child that inherits the locked descriptor, then dies: the flock stays held by an orphan.
ORPHAN = """
import os, sys, time
from framework.engine.run_lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
os._exit(0)
"""


def _python(script: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args], env=env, text=True, stdout=subprocess.PIPE, **kwargs
    )


def test_lock_records_owner_and_is_reusable(tmp_path: Path) -> None:
    with RunLock(tmp_path) as lock:
        owner = json.loads((tmp_path / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] and owner["started"]
        assert lock.held
        with pytest.raises(RunDirectoryBusy, match="this same process"):
            RunLock(tmp_path).acquire()
    assert not lock.held
    with RunLock(tmp_path) as again:  # released cleanly: no takeover note
        assert again.note is None


def test_second_process_is_refused_then_takes_over_after_kill9(tmp_path: Path) -> None:
    assert not in_use(tmp_path)  # no lock file yet
    holder = _python(HOLD, str(tmp_path), stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert in_use(tmp_path)  # what `plait sweep resume` asks before relaunching a trial
        with pytest.raises(RunDirectoryBusy) as err:
            RunLock(tmp_path).acquire()
        message = str(err.value)
        assert f"pid {holder.pid}" in message and "hydra.run.dir=" in message
        assert isinstance(err.value, PlaitError)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert not in_use(tmp_path)
        with RunLock(tmp_path) as lock:  # flock released by the kernel; the file still names the dead owner
            assert lock.note is not None and f"pid {holder.pid}" in lock.note
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_lock_held_by_orphan_of_dead_owner_is_broken(tmp_path: Path) -> None:
    owner = _python(ORPHAN, str(tmp_path))
    orphan = int(owner.stdout.readline())
    owner.wait(timeout=30)
    try:
        assert not in_use(tmp_path)  # held only by an orphan of the dead owner
        with RunLock(tmp_path) as lock:
            assert lock.note is not None and "stale" in lock.note and f"pid {owner.pid}" in lock.note
            with pytest.raises(RunDirectoryBusy):  # and the new lock really excludes others
                RunLock(tmp_path).acquire()
    finally:
        os.kill(orphan, signal.SIGKILL)


def test_fresh_start_over_previous_run_is_refused(tmp_path: Path) -> None:
    assert check_fresh_or_resume(tmp_path, None, overwrite=False) == []  # empty directory: fine
    (tmp_path / ".hydra").mkdir()  # Hydra's own files do not count as a run
    assert check_fresh_or_resume(tmp_path, None, overwrite=False) == []
    (tmp_path / "checkpoints" / "step_0000060").mkdir(parents=True)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(PlaitError, match=r"trainer\.resume=auto.*hydra\.run\.dir=.*trainer\.overwrite=true"):
        check_fresh_or_resume(tmp_path, None, overwrite=False)
    assert check_fresh_or_resume(tmp_path, "auto", overwrite=False) == []  # resuming continues it
    assert (tmp_path / "metrics.jsonl").exists()
    removed = check_fresh_or_resume(tmp_path, None, overwrite=True)
    assert {p.name for p in removed} == {"checkpoints", "metrics.jsonl"}
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.jsonl").exists()
    assert (tmp_path / ".hydra").is_dir()


def test_read_only_run_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def read_only(path, flags, *args):  # a read-only file system, also for root (who ignores permission bits)
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(
        PlaitError,
        match=r"could not write the run lock .*\.lock: the file system is read-only; .* can still "
        r"be evaluated and predicted from\). .*train into another directory",
    ):
        RunLock(tmp_path).acquire()


def test_full_disk_at_the_lock_is_a_clear_error_and_leaves_the_lock_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming into a run whose disk is full: the owner record cannot be written (issue 24: it was a traceback)."""

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(DiskWriteError, match=r"could not write the run lock .*\.lock: no space left on device; [\d.]+ MiB "
                       r"free on the disk of .*\. Free some space and run the same command again"):  # fmt: skip
        RunLock(tmp_path).acquire()
    monkeypatch.undo()
    with RunLock(tmp_path) as lock:  # space freed: the failed attempt holds nothing
        assert lock.held and lock.note is None
