"""Checkpoints: atomic writes, only complete ones resumed, keep-last-k, safe loading."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from framework.checkpoint import (
    MARKER,
    Checkpointer,
    latest_checkpoint,
    list_checkpoints,
    load_state,
    resolve_resume,
    rng_state,
    set_rng_state,
)
from framework.registry import PlaitError


def test_save_writes_marker_last_and_prunes(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=2)
    for step in (1, 2, 3):
        path = ckpt.save(step, {"step": step, "w": torch.ones(2) * step})
        assert (path / MARKER).is_file()
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step_0000002", "step_0000003"]
    assert torch.equal(load_state(latest_checkpoint(tmp_path / "checkpoints"))["w"], torch.ones(2) * 3)


def test_incomplete_checkpoint_is_ignored(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints")
    ckpt.save(5, {"step": 5})
    crashed = ckpt.save(9, {"step": 9})
    (crashed / MARKER).unlink()  # as if the process died before the marker was written
    (tmp_path / "checkpoints" / ".tmp-step_0000010-1").mkdir()  # a half-written temp directory
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_0000005"
    assert resolve_resume("auto", tmp_path).name == "step_0000005"
    with pytest.raises(PlaitError, match="not a complete checkpoint"):
        load_state(crashed)
    ckpt.save(6, {"step": 6})  # the next save cleans temp directories
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_resolve_resume_errors_name_the_path(tmp_path: Path) -> None:
    assert resolve_resume("auto", tmp_path) is None  # nothing yet: a fresh start
    with pytest.raises(PlaitError, match="does not exist"):
        resolve_resume(str(tmp_path / "nope"), tmp_path)
    with pytest.raises(PlaitError, match="no complete checkpoint"):
        resolve_resume(str(tmp_path), tmp_path)


def test_loading_refuses_pickled_code(tmp_path: Path) -> None:
    path = Checkpointer(tmp_path).save(1, {"step": 1})
    torch.save({"evil": random.Random()}, path / "state.pt")  # an arbitrary Python object
    with pytest.raises(Exception, match="[Ww]eights only"):
        load_state(path)


def test_rng_state_round_trip_survives_safe_loading(tmp_path: Path) -> None:
    state = rng_state()
    path = Checkpointer(tmp_path).save(1, {"rng": state})
    expected = (random.random(), torch.rand(3))
    set_rng_state(load_state(path)["rng"])
    assert random.random() == expected[0]
    assert torch.equal(torch.rand(3), expected[1])
