"""The record of what a run read: each split's files (path, bytes, sha256), written as `data_files.json` in the
run directory so that a run says exactly what it trained on."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from framework.files import atomic_write

DATA_FILES = "data_files.json"  # in the run directory


def write_data_files(run_dir: Path, splits: Mapping[str, Sequence[Mapping[str, Any]]]) -> Path:
    """Write `split -> [{path, bytes, sha256}, ...]` (from `record_split` / `describe_files`) into `run_dir`."""
    path = Path(run_dir) / DATA_FILES
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({split: list(files) for split, files in splits.items()}, indent=1) + "\n")
    return path


def read_data_files(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The record `write_data_files` left in `run_dir` ({} when the run has none: generated data)."""
    path = Path(run_dir) / DATA_FILES
    return json.loads(path.read_text()) if path.is_file() else {}
