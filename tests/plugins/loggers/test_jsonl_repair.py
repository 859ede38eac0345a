"""metrics.jsonl on resume: repaired by writing a new file and renaming it; torn lines and later rows dropped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from framework import files
from framework.callback import TrainState
from plugins.loggers.jsonl import JsonlLogger, JsonlLoggerConfig

ROWS = [{"step": s, "train/loss": 1.0 / s} for s in (2, 4, 6, 8)] + [{"step": 8, "val/accuracy": 0.5}]


def _write(path: Path, rows: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _start(tmp_path: Path, step: int) -> JsonlLogger:
    logger = JsonlLogger(JsonlLoggerConfig(), tmp_path)
    logger.on_fit_start(TrainState(step=step, run_dir=tmp_path))
    return logger


def test_resume_drops_torn_line_and_later_rows_via_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, [*ROWS[:3], {"oops": 1}, ROWS[3]], tail='{"step": 10, "train/lo')  # killed mid-write
    inode = path.stat().st_ino
    logger = _start(tmp_path, 6)
    logger.log_metrics({"train/loss": 0.1}, 8)
    logger.close(TrainState())
    assert _rows(path) == [*ROWS[:3], {"step": 8, "train/loss": 0.1}]
    assert path.stat().st_ino != inode  # replaced by rename, never truncated in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_intact_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, ROWS)
    inode = path.stat().st_ino
    _start(tmp_path, 8).close(TrainState())
    assert path.stat().st_ino == inode and _rows(path) == ROWS


def test_kill_during_repair_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, ROWS)
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill between the write and the rename

    monkeypatch.setattr(files.os, "replace", killed)  # inside framework.files.atomic_write
    with pytest.raises(KeyboardInterrupt):
        _start(tmp_path, 4)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
    monkeypatch.undo()
    _start(tmp_path, 4).close(TrainState())
    assert _rows(path) == ROWS[:2]


def test_relaunching_a_finished_run_adds_no_duplicate_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, ROWS)
    logger = _start(tmp_path, 8)  # the checkpoint is at the last step: nothing left to train
    logger.log_metrics({"val/accuracy": 0.5}, 8)  # the trainer evaluates the final step again
    logger.log_metrics({"val/accuracy": 0.5, "val/new_metric": 1.0}, 8)  # something new is still written
    logger.close(TrainState())
    assert _rows(path) == [*ROWS, {"step": 8, "val/accuracy": 0.5, "val/new_metric": 1.0}]


def test_fresh_start_begins_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    _write(path, ROWS)
    logger = _start(tmp_path, 0)
    logger.log_metrics({"train/loss": 2.0}, 1)
    logger.close(TrainState())
    assert _rows(path) == [{"step": 1, "train/loss": 2.0}]
    assert os.path.getsize(path) > 0
