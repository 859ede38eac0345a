"""A write refused by the disk, said once and clearly: which file, why (full, over quota, read-only), the free space
and what to do; what the failed write left is removed by the caller's `undo`.

Checkpoints (framework.engine.checkpoint) and every write at the start of a run (the run lock, the tokenizer,
config.yaml, the loggers' files) go through `disk_write_error` / `writing`, so each says it the same way.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from framework.errors import DiskWriteError, PlaitError

FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
READ_ONLY = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}
# what torch's zip writer says when a write came up short (it hides the OSError)
TORCH_WRITER = ("unexpected pos", "file write failed", "PytorchStreamWriter")
RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how Rust's io::Error ends its message
AGAIN = "run the same command again; nothing half-written was kept"
MIN_FREE_MIB = 1.0  # less than this cannot hold even a run's config and logs


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the errors it came from (its cause, else its context), innermost last."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _errno(exc: BaseException) -> int | None:
    """The OS error number of `exc`: an OSError's, or the `(os error N)` that Rust libraries (tokenizers) report."""
    if isinstance(exc, OSError):
        return exc.errno
    found = RUST_OS_ERROR.search(str(exc))
    return int(found.group(1)) if found else None


def write_failure(exc: BaseException) -> tuple[str, bool] | None:
    """(reason, whether the disk is full) when `exc` or an error it came from is a write the disk refused, else None."""
    for seen in _chain(exc):
        code = _errno(seen)
        if code in FULL or code in READ_ONLY:
            return (FULL[code], True) if code in FULL else (READ_ONLY[code], False)
        if isinstance(seen, RuntimeError) and any(text in str(seen) for text in TORCH_WRITER):
            return "the write failed (usually a full disk)", True
    return None


def _naming_file(what: str, exc: BaseException) -> str:
    """`what`, followed by the file the OS error names when `what` does not already say it."""
    file = next((e.filename for e in _chain(exc) if isinstance(e, OSError) and e.filename), None)
    return what if file is None or str(file) in what else f"{what} ({file})"


def existing_parent(path: Path) -> Path:
    """`path` itself when it exists, else its nearest parent that does (where a new directory would be made)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_mib(path: Path) -> float:
    """MiB free on the disk holding `path` (or its nearest existing parent)."""
    return shutil.disk_usage(existing_parent(path)).free / 2**20


def check_writable(directory: Path, what: str) -> None:
    """Refuse up front to write `what` into `directory` on a read-only or full disk (under MIN_FREE_MIB free),
    with the message a failed write there would give."""
    parent = existing_parent(directory)
    if not os.access(parent, os.W_OK):
        code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
    elif free_mib(parent) < MIN_FREE_MIB:
        code = errno.ENOSPC
    else:
        return
    error = disk_write_error(OSError(code, os.strerror(code)), what, parent)
    assert error is not None  # the codes above are the ones it words
    raise error


def disk_write_error(
    exc: BaseException, what: str, where: Path, then: str = AGAIN, *, tip: str = ""
) -> DiskWriteError | None:
    """`could not write <what>: <why>; ...` when `exc` is a write refused by the disk of `where`, else None.

    A full disk names the free space and says to free some (`tip` adds another way) and `then`; a read-only one
    says to make it writable or train elsewhere, and `then`.
    """
    failure = write_failure(exc)
    if failure is None:
        return None
    reason, full = failure
    if full:
        advice = f"{free_mib(where):.1f} MiB free on the disk of {where}. Free some space{tip} and {then}"
    else:
        advice = (
            f"{where} cannot be written (a run there can still be evaluated and predicted from). Make it writable "
            f"or train into another directory (hydra.run.dir=<dir>), and {then}"
        )
    return DiskWriteError(f"could not write {what}: {reason}; {advice}.")


@contextmanager
def writing(what: str, where: Path, undo: Callable[[], object] | None = None, then: str = AGAIN) -> Iterator[None]:
    """Writes of `what` under `where`: any failure runs `undo` (remove what was half-written); a refusal by the disk
    becomes one DiskWriteError naming the file (the failing one when the error says which)."""
    try:
        yield
    except BaseException as exc:
        if undo is not None:
            undo()
        if isinstance(exc, PlaitError):  # already said (a checkpoint's own disk error, for one)
            raise
        error = disk_write_error(exc, _naming_file(what, exc), where, then)
        if error is None:
            raise
        raise error from exc
