"""One run on two processes (torchrun, gloo, CPU): equal to one process with the double batch, exact resume,
a dead rank ends the job, and the loss-scaling precisions train under DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.distributed import gather_partials, shard

COMMON = [
    "logger=[jsonl]",
    "trainer.device=cpu",
    "trainer.log_every_n_steps=1",
    "trainer.eval_every_n_steps=10",
    "trainer.checkpoint_every_n_steps=10",
    "precision=fp32",
    "model.dropout=0.0",
]


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]  # --standalone: a free port per job


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def plait(args: list[str], run_dir: Path, *, nproc: int = 1, timeout: float = 90, **env: str):
    """Run `plait train` as one process, or under torchrun with `nproc` processes; returns CompletedProcess."""
    launcher = [*TORCHRUN, f"--nproc_per_node={nproc}"] if nproc > 1 else []
    entry = ["-m", "framework.cli"] if nproc > 1 else [sys.executable, "-m", "framework.cli"]
    cmd = [*launcher, *entry, "train", *args, f"hydra.run.dir={run_dir}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(**env), cwd=run_dir.parent)


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["train/loss"] for r in rows(run_dir) if "train/loss" in r}


def val(run_dir: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k.startswith("val/")} for r in rows(run_dir) if "val/loss" in r]


def ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_shard_and_gather_restore_the_single_process_order() -> None:
    """Batch i goes to rank i % world; interleaving the ranks' lists gives the original order back."""
    items = list(range(7))
    per_rank = [[x for _, x in shard(iter(items), world=3, index=r)] for r in range(3)]
    assert per_rank == [[0, 3, 6], [1, 4], [2, 5]]
    assert gather_partials(items) == items  # without a process group: this process's own list


def test_two_processes_with_batch_b_equal_one_process_with_batch_2b(tmp_path: Path) -> None:
    """Per-step losses within 1e-5 relative over 20 steps, same validation metrics; one run dir, one metrics file."""
    args = [*COMMON, "trainer.max_steps=20"]
    two, one = tmp_path / "two", tmp_path / "one"
    ok(plait([*args, "trainer.batch_size=8"], two, nproc=2))
    ok(plait([*args, "trainer.batch_size=16"], one))
    a, b = losses(two), losses(one)
    assert sorted(a) == list(range(1, 21)) and a.keys() == b.keys()
    assert all(abs(a[k] - b[k]) <= 1e-5 * abs(b[k]) for k in b), (a, b)
    va, vb = val(two), val(one)
    assert len(va) == len(vb) == 2
    for x, y in zip(va, vb, strict=True):
        assert x["val/accuracy"] == y["val/accuracy"] and x["val/macro_f1"] == y["val/macro_f1"]
        assert x["val/loss"] == pytest.approx(y["val/loss"], rel=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no second run directory
    assert len(rows(two)) == len(rows(one))  # rank 1 wrote nothing to metrics.jsonl
    assert [p.name for p in (two / "checkpoints").iterdir()] and not list(two.glob("*rank*"))


def test_two_process_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """Killed (like kill -9) right after the step-4 checkpoint, resumed with trainer.resume=auto: same losses and weights."""
    args = [*COMMON, "trainer.max_steps=8", "trainer.checkpoint_every_n_steps=4", "model.dropout=0.1"]
    args += ["trainer.batch_size=8", "trainer.eval_every_n_steps=4", "trainer.grad_accum_steps=2"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    ok(plait(args, straight, nproc=2))
    killed = plait(args, resumed, nproc=2, PLAIT_FAULT_INJECT="after_rename:4")
    assert killed.returncode != 0
    assert latest_checkpoint(resumed / "checkpoints").name == "step_0000004"
    ok(plait([*args, "trainer.resume=auto"], resumed, nproc=2))
    assert losses(straight) == losses(resumed)
    a = load_state(latest_checkpoint(straight / "checkpoints"))
    b = load_state(latest_checkpoint(resumed / "checkpoints"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert b["data"]["world_size"] == 2 and b["data"] == a["data"]


def test_a_dead_rank_ends_the_job_without_a_hang(tmp_path: Path) -> None:
    """kill -9 of rank 1 mid-training: torchrun stops rank 0 within seconds; the last checkpoint stays."""
    run_dir = tmp_path / "run"
    args = [*COMMON, "trainer.max_steps=100000", "trainer.batch_size=8", "trainer.checkpoint_every_n_steps=5"]
    cmd = [*TORCHRUN, "--nproc_per_node=2", "-m", "framework.cli", "train"]
    proc = subprocess.Popen(
        [*cmd, *args, f"hydra.run.dir={run_dir}"],
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while latest_checkpoint(run_dir / "checkpoints") is None:
            assert proc.poll() is None and time.monotonic() < deadline, "training did not reach a checkpoint"
            time.sleep(0.2)
        victim = _rank_pid(proc.pid, rank=1)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert time.monotonic() - killed_at < 45, "the surviving rank hung"
    assert latest_checkpoint(run_dir / "checkpoints") is not None


def _rank_pid(launcher: int, rank: int) -> int:
    """The pid of torchrun's worker with RANK=`rank` (read from /proc)."""
    for _ in range(100):
        for child in Path("/proc").glob("[0-9]*"):
            try:
                stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
                environ = (child / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(stat[1]) == launcher and f"RANK={rank}".encode() in environ:
                return int(child.name)
        time.sleep(0.1)
    raise AssertionError(f"no worker with RANK={rank} under pid {launcher}")


@pytest.mark.parametrize("precision", ["amp_fp16", "fp16_master"])
def test_loss_scaling_precisions_train_under_two_process_ddp(tmp_path: Path, precision: str) -> None:
    """Loss-scaled fp16 trains on 2 ranks (found-inf agreed across ranks); losses finite, the scale logged."""
    run_dir = tmp_path / precision
    args = [*COMMON, f"precision={precision}", "trainer.max_steps=6", "trainer.batch_size=8"]
    args += ["trainer.grad_accum_steps=2", "trainer.eval_every_n_steps=6"]
    ok(plait(args, run_dir, nproc=2))
    logged = rows(run_dir)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses(run_dir).values())
    assert any("precision/loss_scale" in r for r in logged)
    assert val(run_dir)[-1]["val/accuracy"] > 0


def test_fsdp_trains_like_ddp_and_refuses_loss_scaling(tmp_path: Path) -> None:
    """trainer.strategy=fsdp (FSDP2 fully_shard on gloo) gives DDP's losses; amp_fp16 under fsdp is one clear error."""
    args = [*COMMON, "trainer.max_steps=6", "trainer.batch_size=8", "trainer.eval_every_n_steps=6"]
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    ok(plait(args, ddp, nproc=2))
    ok(plait([*args, "trainer.strategy=fsdp"], fsdp, nproc=2))
    a, b = losses(ddp), losses(fsdp)
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-5 * abs(a[k]) for k in a)
    assert set(load_state(latest_checkpoint(fsdp / "checkpoints"))["model"]) == set(
        load_state(latest_checkpoint(ddp / "checkpoints"))["model"]
    )  # the same single-process layout: either run resumes on any number of processes
    refused = plait([*args, "trainer.strategy=fsdp", "precision=amp_fp16"], tmp_path / "bad", nproc=2)
    assert refused.returncode != 0
    assert (refused.stdout + refused.stderr).count("does not support precision=amp_fp16") == 1


def test_two_processes_stop_together_at_the_time_limit_and_resume(tmp_path: Path) -> None:
    """trainer.max_time under torchrun: each rank's clock differs, yet both stop at the same step (no hang), the
    stop is evaluated and saved, and trainer.resume=auto continues."""
    args = [*COMMON, "trainer.max_steps=100000", "trainer.batch_size=8", "trainer.log_every_n_steps=50"]
    args += ["trainer.eval_every_n_steps=1000", "trainer.checkpoint_every_n_steps=1000", "trainer.max_time=4"]
    run = tmp_path / "run"
    ok(plait(args, run, nproc=2))
    stopped = [r["step"] for r in rows(run) if "train/time_limit_reached" in r]
    assert len(stopped) == 1 and latest_checkpoint(run / "checkpoints").name == f"step_{stopped[0]:07d}"
    assert any("val/loss" in r and r["step"] == stopped[0] for r in rows(run))
    ok(plait([*args, "trainer.resume=auto"], run, nproc=2))
    assert [r["step"] for r in rows(run) if "train/time_limit_reached" in r][-1] > stopped[0]
