"""Through the real `plait train` command: SIGTERM mid-run saves at the step boundary, exits 143 and resumes
bit-identically; a second process on a live run directory is refused with the owner named; a torn
metrics.jsonl line and a truncated newest checkpoint are survived on resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from framework.engine.checkpoint import latest_checkpoint, load_state

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "logger=[jsonl]",
    "precision=fp32",
    "trainer.device=cpu",
    "trainer.batch_size=8",
    "trainer.log_every_n_steps=10",
    "trainer.eval_every_n_steps=0",
    "task.demo_size=300",
    "tokenizer.vocab_size=120",
    "model.d_model=16",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.d_ff=32",
]
# Registers a callback that sends this process SIGTERM after step N, then runs the plait CLI.
SIGNAL_AT = """
import os, signal, sys
from dataclasses import dataclass
from framework.callback import Callback
from framework.kinds import CALLBACKS
from framework.schema import ComponentConfig
from framework.plugins import load_plugins

@dataclass
class SignalAtConfig(ComponentConfig):
    step: int = 0  # send SIGTERM to this process after this step

class SignalAt(Callback):
    def __init__(self, cfg): self.step = cfg.step
    def on_step_end(self, state):
        if state.step == self.step: os.kill(os.getpid(), signal.SIGTERM)

load_plugins()
CALLBACKS.register("signal_at", config=SignalAtConfig)(lambda cfg, run_dir: SignalAt(cfg))
from framework.cli import main
main(sys.argv[1:])
"""


def plait(*args: str, script: str | None = None, wait: bool = True, timeout: float = 300):
    """Run `plait <args>` in a fresh process (one thread); returns the CompletedProcess or the Popen."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-c", script or "from framework.cli import main; import sys; main(sys.argv[1:])", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def weights(run: Path) -> dict[str, torch.Tensor]:
    found = latest_checkpoint(run / "checkpoints")
    assert found is not None
    return load_state(found)["model"]


def train_rows(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r]


def test_sigterm_saves_at_the_step_resumes_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    args = ["train", *TINY, "trainer.max_steps=120", "trainer.checkpoint_every_n_steps=50"]
    straight = plait(*args, f"hydra.run.dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr
    stopped = plait(
        *args, "+callback=[signal_at]", "callback.signal_at.step=70", f"hydra.run.dir={tmp_path / 'run'}",
        script=SIGNAL_AT,
    )  # fmt: skip
    assert stopped.returncode == 143, stopped.stderr
    assert "stopped on SIGTERM at step 70" in stopped.stderr and "Traceback" not in stopped.stderr
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step_0000070"
    resumed = plait(*args, "trainer.resume=auto", f"hydra.run.dir={tmp_path / 'run'}")
    assert resumed.returncode == 0, resumed.stderr
    assert train_rows(tmp_path / "run") == train_rows(tmp_path / "straight")
    ours, theirs = weights(tmp_path / "run"), weights(tmp_path / "straight")
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_a_second_process_on_a_live_run_directory_is_refused_and_the_first_finishes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = plait("train", *TINY, "trainer.max_steps=1500", f"hydra.run.dir={run}", wait=False)
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    second = plait("train", *TINY, "trainer.max_steps=1500", f"hydra.run.dir={run}")
    out, err = first.communicate(timeout=300)
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, err
    assert [s for s, _ in train_rows(run)][-1] == 1500


def test_resume_survives_a_torn_metrics_line_and_a_truncated_newest_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train", *TINY, "trainer.checkpoint_every_n_steps=20", f"hydra.run.dir={run}"]
    assert plait(*args, "trainer.max_steps=40").returncode == 0
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 41, "train/lo')  # a half-written last line
    newest = run / "checkpoints" / "step_0000040" / "state.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    resumed = plait(*args, "trainer.max_steps=60", "trainer.resume=auto")
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped checkpoint" in resumed.stderr and "step_0000040" in resumed.stderr
    steps = [s for s, _ in train_rows(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 60  # no duplicate or torn rows
