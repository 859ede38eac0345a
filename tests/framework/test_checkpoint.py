"""Checkpoints: atomic writes, only complete ones resumed, keep-last-k, safe loading."""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from framework.engine.checkpoint import (
    FAULT_ENV,
    MARKER,
    Checkpointer,
    CheckpointLoadError,
    clean_leftovers,
    find_checkpoints,
    latest_checkpoint,
    list_checkpoints,
    load_latest,
    load_resume,
    load_state,
    rng_state,
    set_rng_state,
    verify_tokenizer,
)
from framework.errors import PlaitError
from framework.tokenizer import directory_digest


def test_save_writes_marker_last_and_prunes(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=2)
    for step in (1, 2, 3):
        path = ckpt.save(step, {"step": step, "w": torch.ones(2) * step})
        assert (path / MARKER).is_file()
    names = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step_0000002", "step_0000003"]
    assert torch.equal(load_state(latest_checkpoint(tmp_path / "checkpoints"))["w"], torch.ones(2) * 3)


def test_a_save_with_files_prunes_too(tmp_path: Path) -> None:
    """Files copied into the checkpoint (the tokenizer) must not turn the save into a named, never-pruned one."""
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "vocab.json").write_text("{}")
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=1)
    for step in (1, 2):
        ckpt.save(step, {"step": step}, {"tokenizer": tmp_path / "tokenizer"})
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step_0000002"]


def test_incomplete_checkpoint_is_ignored(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints")
    ckpt.save(5, {"step": 5})
    crashed = ckpt.save(9, {"step": 9})
    (crashed / MARKER).unlink()  # as if the process died before the marker was written
    (tmp_path / "checkpoints" / ".tmp-step_0000010-1").mkdir()  # a half-written temp directory
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_0000005"
    assert load_resume("auto", tmp_path).path.name == "step_0000005"
    with pytest.raises(PlaitError, match="not a complete checkpoint"):
        load_state(crashed)
    ckpt.save(6, {"step": 6})  # the next save cleans temp directories
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_load_resume_errors_name_the_path(tmp_path: Path) -> None:
    assert load_resume("auto", tmp_path) is None  # nothing yet: a fresh start
    with pytest.raises(PlaitError, match="does not exist"):
        load_resume(str(tmp_path / "nope"), tmp_path)
    with pytest.raises(PlaitError, match="no complete checkpoint"):
        load_resume(str(tmp_path), tmp_path)


def test_loading_refuses_pickled_code_in_plaits_words(tmp_path: Path) -> None:
    path = Checkpointer(tmp_path).save(1, {"step": 1})
    torch.save({"evil": random.Random()}, path / "state.pt")  # an arbitrary Python object
    with pytest.raises(CheckpointLoadError) as err:
        load_state(path)
    message = str(err.value)
    assert message.startswith(f"refused to load {path / 'state.pt'}: it contains objects other than tensors")
    assert "Plait never loads such files" in message and "weights_only=False" not in message


def test_rng_state_round_trip_survives_safe_loading(tmp_path: Path) -> None:
    state = rng_state()
    path = Checkpointer(tmp_path).save(1, {"rng": state})
    expected = (random.random(), torch.rand(3))
    set_rng_state(load_state(path)["rng"])
    assert random.random() == expected[0]
    assert torch.equal(torch.rand(3), expected[1])


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def test_damaged_newest_checkpoint_falls_back_and_says_why(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=3)
    for step in (10, 20, 30):
        ckpt.save(step, {"step": step, "w": torch.full((64,), float(step))})
    _truncate(tmp_path / "checkpoints" / "step_0000030" / "state.pt")
    (tmp_path / "checkpoints" / "step_0000020" / "state.pt").write_bytes(b"")
    loaded = load_latest(tmp_path)
    assert loaded.path.name == "step_0000010" and loaded.state["step"] == 10
    reasons = {p.name: why for p, why in loaded.skipped}
    assert list(reasons) == ["step_0000030", "step_0000020"]
    assert "damaged" in reasons["step_0000030"]
    assert "PytorchStreamReader failed reading zip archive" in reasons["step_0000030"]
    assert load_resume("auto", tmp_path).path.name == "step_0000010"
    _truncate(tmp_path / "checkpoints" / "step_0000010" / "state.pt")
    with pytest.raises(PlaitError, match="no checkpoint under .* could be loaded.*step_0000030.*step_0000010"):
        load_latest(tmp_path)


def test_find_checkpoints_accepts_run_checkpoints_and_checkpoint_dirs(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=0)
    paths = [ckpt.save(step, {"step": step}) for step in (1, 2, 3)]
    assert find_checkpoints(tmp_path) == paths[::-1]
    assert find_checkpoints(tmp_path / "checkpoints") == paths[::-1]
    assert find_checkpoints(paths[0]) == [paths[0]]
    (tmp_path / "empty").mkdir()
    assert find_checkpoints(tmp_path / "empty") == []
    with pytest.raises(PlaitError, match="does not exist"):
        find_checkpoints(tmp_path / "nope")
    assert load_resume("auto", tmp_path / "empty") is None
    with pytest.raises(PlaitError, match="no complete checkpoint"):
        load_resume(str(tmp_path / "empty"), tmp_path)
    assert load_resume(str(paths[1]), tmp_path).state == {"step": 2}  # an explicit checkpoint is used as given


def test_keep_last_one_never_deletes_the_new_checkpoint(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    Checkpointer(directory, keep_last=1).save(60, {"step": 60})  # a finished run of 60 steps
    ckpt = Checkpointer(directory, keep_last=1)
    new = ckpt.save(20, {"step": 20})  # a relaunch; the old one is from an abandoned timeline
    assert list_checkpoints(directory) == [new]
    again = ckpt.save(20, {"step": 20, "again": True})  # re-saving a step replaces it in place
    assert again == new and load_state(new)["again"] is True
    assert sorted(p.name for p in directory.iterdir()) == ["step_0000020"]


def test_pruning_keeps_the_newest_and_drops_later_steps_after_a_resume(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path, keep_last=2)
    for step in (10, 20, 30):
        ckpt.save(step, {"step": step})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000020", "step_0000030"]
    ckpt.save(25, {"step": 25})  # resumed from 20: step 30 belongs to the abandoned timeline
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000020", "step_0000025"]


def test_clean_leftovers_removes_debris_and_restores_a_replaced_checkpoint(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path, keep_last=0)
    ckpt.save(5, {"step": 5})
    replaced = ckpt.save(7, {"step": 7})
    os.replace(replaced, tmp_path / ".old-step_0000007-4242")  # killed between the two renames of a re-save
    (tmp_path / ".tmp-step_0000008-1").mkdir()
    (tmp_path / ".tmp-prune-step_0000003-1").mkdir()
    (tmp_path / "step_0000009").mkdir()  # unmarked
    removed = clean_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == [".tmp-prune-step_0000003-1", ".tmp-step_0000008-1", "step_0000009"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0000005", "step_0000007"]
    assert load_state(tmp_path / "step_0000007") == {"step": 7}
    assert clean_leftovers(tmp_path) == []


class _Boom:
    def is_dir(self) -> bool:
        raise ValueError("boom")


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"),
    ],
    ids=["enospc", "torch-writer"],
)
def test_disk_full_names_path_and_free_space_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    ckpt = Checkpointer(tmp_path, keep_last=1)
    ckpt.save(1, {"step": 1})

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(PlaitError, match=r"could not write the checkpoint .*step_0000002: .*MiB free on the disk of"):
        ckpt.save(2, {"step": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001"]
    monkeypatch.undo()
    with pytest.raises(ValueError, match="boom"):  # other errors pass through unchanged, still no temp directory
        ckpt.save(3, {"step": 3}, files={"x": _Boom()})
    assert [p.name for p in tmp_path.iterdir()] == ["step_0000001"]


def _with_tokenizer(tmp_path: Path, step: int, ckpt: Checkpointer) -> Path:
    tok = tmp_path / "tok"
    (tok / "source").mkdir(parents=True, exist_ok=True)
    (tok / "source" / "tokenizer.json").write_text(json.dumps({"vocab": {"a": 0, "b": 1}}))
    (tok / "source" / "meta.txt").write_text("char\n")
    return ckpt.save(step, {"step": step, "tokenizer_sha256": directory_digest(tok)}, files={"tokenizer": tok})


def test_tokenizer_hash_is_checked_and_names_the_file(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "checkpoints", keep_last=0)
    older = _with_tokenizer(tmp_path, 1, ckpt)
    newer = _with_tokenizer(tmp_path, 2, ckpt)
    recorded = load_state(newer)["tokenizer_sha256"]
    verify_tokenizer(newer, recorded)  # intact
    verify_tokenizer(newer, "")  # nothing recorded: nothing to check
    file = newer / "tokenizer" / "source" / "tokenizer.json"
    file.write_text(json.dumps({"vocab": {"a": 1, "b": 0}}))  # changed but valid
    with pytest.raises(CheckpointLoadError, match=r"\(source/meta.txt, source/tokenizer.json\) differ"):
        verify_tokenizer(newer, recorded)
    file.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointLoadError, match=f"the tokenizer file {file} is damaged"):
        verify_tokenizer(newer, recorded)
    loaded = load_latest(tmp_path)  # resume and eval fall back to the intact older checkpoint
    assert loaded.path == older and loaded.skipped[0][0] == newer and str(file) in loaded.skipped[0][1]


# Saves the given steps (keep_last=1); the fault spec in argv[2] applies to the last save only.
SAVER = """
import os, sys, torch
from framework.engine.checkpoint import Checkpointer, FAULT_ENV
directory, fault, steps = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
ckpt = Checkpointer(directory, keep_last=1)
for i, step in enumerate(steps):
    if i == len(steps) - 1:
        os.environ[FAULT_ENV] = fault
    ckpt.save(step, {"step": step, "w": torch.full((1000,), float(step))})
"""


@pytest.mark.parametrize(
    ("fault", "steps"),
    [
        ("after_temp_write:20", [10, 20]),
        ("before_rename:20", [10, 20]),
        ("after_rename:20", [10, 20]),
        ("during_prune:20", [10, 20]),
        ("replacing:10", [10, 10]),
    ],
)
def test_kill9_inside_a_save_always_leaves_a_complete_checkpoint(tmp_path: Path, fault: str, steps: list[int]) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    env.pop(FAULT_ENV, None)
    args = [sys.executable, "-c", textwrap.dedent(SAVER), str(tmp_path), fault, *map(str, steps)]
    assert subprocess.run(args, env=env, timeout=120).returncode == 137
    debris = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    clean_leftovers(tmp_path)
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir()), debris
    loaded = load_latest(tmp_path)
    assert loaded is not None and not loaded.skipped
    assert torch.equal(loaded.state["w"], torch.full((1000,), float(loaded.state["step"])))
    assert loaded.path == list_checkpoints(tmp_path)[-1]  # the newest one committed (the next save prunes)
