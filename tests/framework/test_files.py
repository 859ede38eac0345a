"""framework.files: an atomic write replaces the file whole or leaves it as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework import atomic_write, files


def test_atomic_write_replaces_text_and_bytes_by_rename(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old\n")
    inode = path.stat().st_ino
    atomic_write(path, "nouveau\n")
    assert path.read_text(encoding="utf-8") == "nouveau\n" and path.stat().st_ino != inode
    atomic_write(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "state.json"
    path.write_text("old\n")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
