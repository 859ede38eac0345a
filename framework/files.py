"""Files that survive a crash: a write leaves the old content or the new one, never a torn file.

For anything that rewrites a file in place (a logger repairing its log, a plugin saving its state): write
beside it, fsync, rename over it, fsync the directory. Checkpoints (framework.engine.checkpoint) are built on it.
`cache_root` is where reusable files outside runs live (token caches, a logger's store templates).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "PLAIT_CACHE_DIR"


def cache_root(configured: str | None = None) -> Path:
    """Where caches live: `configured`, else $PLAIT_CACHE_DIR, else ~/.cache/plait (XDG_CACHE_HOME honoured)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "plait"


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries to disk, so a rename or a new file in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, encoding: str = "utf-8", *, temp_name: str | None = None) -> None:
    """Replace `path` with `data` (text is encoded with `encoding`) all at once.

    Writes a temporary file beside it, fsyncs it, renames it over `path`, then fsyncs the directory; an
    error or a kill leaves `path` as it was and no temporary file behind (bar a kill between write and rename).
    `temp_name`: the temporary file's name (default `.<name>.tmp-<pid>`), for folders whose readers pick files
    by a pattern the default would match.
    """
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(temp_name or f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
