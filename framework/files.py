"""Files that survive a crash: a write leaves the old content or the new one, never a torn file.

For anything that rewrites a file in place (a logger repairing its log, a plugin saving its state): write
beside it, fsync, rename over it, fsync the directory. Checkpoints (framework.engine.checkpoint) are built on it.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries to disk, so a rename or a new file in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str, encoding: str = "utf-8") -> None:
    """Replace `path` with `data` (text is encoded with `encoding`) all at once.

    Writes a temporary file beside it, fsyncs it, renames it over `path`, then fsyncs the directory; an
    error or a kill leaves `path` as it was and no temporary file behind (bar a kill between write and rename).
    """
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
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
