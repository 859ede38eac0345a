"""A full or read-only disk is one clear message wherever a run writes (issue 24: at start-up it was a traceback),
and nothing half-written is left for a later run to trip on; a run stopped by a full disk resumes once space is
freed. (A checkpoint save that hits ENOSPC on its own: test_checkpoint.py.)"""

from __future__ import annotations

import errno
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_runs import run_cli

from framework.engine import disk
from framework.engine.checkpoint import latest_checkpoint, list_checkpoints
from framework.engine.run_lock import previous_run_files
from framework.testing import QUICK

FULL = OSError(errno.ENOSPC, "No space left on device")
AGAIN = r"\. Free some space and run the same command again; nothing half-written was kept\."
RESUME = r"\. Free some space and resume with trainer\.resume=auto; the checkpoints already written are intact\."


def fail_lock_write(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    """The run lock's owner record (`os.pwrite`) hits a full disk."""

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        raise FULL

    monkeypatch.setattr("os.pwrite", pwrite)


def fail_tokenizer_save(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    """The tokenizer writes half its file, then the disk is full (as the Rust `tokenizers` library says it)."""
    from plugins.tokenizers.hf_base import HFTokenizer

    def save(self: Any, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tokenizer.json").write_text('{"version": "1.0", "trunc')
        raise Exception("No space left on device (os error 28)")

    monkeypatch.setattr(HFTokenizer, "save", save)


def fail_config_save(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    """config.yaml is half written when the disk fills."""
    from omegaconf import OmegaConf

    def save(config: Any, f: Any, resolve: bool = False) -> None:
        Path(f).write_text("trainer:\n  max_st")
        raise OSError(errno.ENOSPC, "No space left on device", str(f))

    monkeypatch.setattr(OmegaConf, "save", save)


def fail_metrics_file(monkeypatch: pytest.MonkeyPatch, run_dir: Path) -> None:
    """metrics.jsonl cannot be created (the jsonl logger opens it when training starts)."""

    def full_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr("plugins.loggers.jsonl.open", full_open, raising=False)


START_UP = {
    "lock": (fail_lock_write, r"could not write the run lock {run}/\.lock: no space left on device; [\d.]+ MiB free "
                              r"on the disk of {run}" + AGAIN),
    # the first tokenizer write of a fresh run is its copy in the cache (reused by later runs on the same data)
    "tokenizer": (fail_tokenizer_save, r"could not write the cached tokenizer \S+/tokenizers/[0-9a-f]+/[0-9a-f]+/text: "
                                       r"no space left on device; [\d.]+ MiB free on the disk of \S+" + AGAIN),
    "config.yaml": (fail_config_save, r"could not write the resolved config {run}/config\.yaml \({run}/\.config\.yaml"
                                      r"\.tmp-\d+\): no space left on device; [\d.]+ MiB free on the disk of {run}"
                                      + AGAIN),
    "metrics.jsonl": (fail_metrics_file, r"could not write the run's files in {run} \({run}/metrics\.jsonl\): no space "
                                         r"left on device; [\d.]+ MiB free on the disk of {run}" + RESUME),
}  # fmt: skip


@pytest.mark.parametrize("write", list(START_UP))
def test_a_full_disk_at_start_is_one_message_and_leaves_nothing_half_written(
    write: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    simulate, expected = START_UP[write]
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        simulate(patch, run_dir)
        code, out = run_cli([*QUICK, f"hydra.run.dir={run_dir}"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out and out.count("error:") == 1, out
    assert re.search("error: " + expected.format(run=re.escape(str(run_dir))), out), out
    left = sorted(p.name for p in run_dir.iterdir())
    assert "checkpoints" not in left and not [n for n in left if ".tmp-" in n], left
    if write in ("tokenizer", "config.yaml"):  # what failed half-way is gone, not left torn
        assert not (run_dir / ("tokenizer/text" if write == "tokenizer" else "config.yaml")).exists()
    assert previous_run_files(run_dir) == [], "nothing a later run in this directory trips on"


def test_a_full_or_read_only_disk_is_refused_before_hydra_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Hydra's own first writes (.hydra/, plait.log) would end in its traceback: the disk is checked before them."""
    usage = shutil.disk_usage(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(disk.shutil, "disk_usage", lambda path: usage._replace(free=0))
        code, out = run_cli(QUICK, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out
    assert (
        f"error: could not write the run directory (hydra.run.dir=outputs/${{now:%Y-%m-%d}}/${{now:%H-%M-%S}}): no "
        f"space left on device; 0.0 MiB free on the disk of {tmp_path}. Free some space and run the same command again"
    ) in out
    with monkeypatch.context() as patch:
        patch.setattr(disk.os, "access", lambda path, mode: False)
        code, out = run_cli([*QUICK, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out
    assert f"permission denied; {tmp_path} cannot be written" in out and "train into another directory" in out
    assert list(tmp_path.iterdir()) == []


def full_at(step: int) -> Callable[..., None]:
    """torch.save that finds the disk full when it writes the checkpoint of `step`."""
    real = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if f"step_{step:07d}" in str(f):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, f, *args, **kwargs)

    return save


def test_a_run_stopped_by_a_full_disk_resumes_once_space_is_freed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The whole run: checkpoints at 3 and 6; the disk is full at 6; space is freed; resume=auto finishes it."""
    run_dir = tmp_path / "run"
    args = [*QUICK, "trainer.max_steps=6", f"hydra.run.dir={run_dir}"]
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", full_at(6))
        code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out
    assert re.search(
        rf"error: could not write the checkpoint {re.escape(str(run_dir))}/checkpoints/step_0000006: no space left on "
        rf"device; [\d.]+ MiB free on the disk of {re.escape(str(run_dir))}/checkpoints\. Free some space \(or lower "
        r"trainer\.keep_last_checkpoints\) and resume with trainer\.resume=auto; the previous checkpoints are intact\.",
        out,
    ), out
    assert [p.name for p in list_checkpoints(run_dir / "checkpoints")] == ["step_0000003"]
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step_0000003"], "no temporary directory"

    code, out = run_cli([*args, "trainer.resume=auto"], tmp_path, monkeypatch, capsys)  # space freed
    assert code == 0 and "Traceback" not in out, out
    assert latest_checkpoint(run_dir / "checkpoints") == run_dir / "checkpoints" / "step_0000006"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/loss" in r] == [2, 4, 6]
    assert [r["step"] for r in rows if "val/loss" in r] == [3, 6]
