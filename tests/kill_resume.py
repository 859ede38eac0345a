"""A tiny training in a child process that a fault point can kill like kill -9, and what tests compare after
the resume: test support for the kill/resume tests (test_torture.py, test_remote_checkpoints.py), not shipped.

Tests import it as `from kill_resume import train_in_subprocess, metric_rows, starts`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from framework.engine.checkpoint import FAULT_ENV

ROOT = Path(__file__).resolve().parents[1]

# Trains into argv[1] with the overrides in argv[2]; records the step each fit starts from.
TRAIN = """
import json, sys
from pathlib import Path
from framework.callback import Callback
from framework.engine.run import train
from framework.testing import compose

run_dir = Path(sys.argv[1])

class RecordStart(Callback):
    def on_fit_start(self, state):
        with open(run_dir / "started_at", "a") as fh:
            fh.write(f"{state.step}\\n")

train(compose(json.loads(sys.argv[2])), run_dir, callbacks=[RecordStart()])
"""


def train_in_subprocess(run_dir: Path, overrides: list[str], fault: str | None = None) -> int:
    """Train into `run_dir` in a child process (one CPU thread); `fault`: PLAIT_FAULT_INJECT's `<point>:<step>`.

    Returns the exit code, 0 or 137 (killed at the fault point); anything else fails the test with its stderr.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    args = [sys.executable, "-c", textwrap.dedent(TRAIN), str(run_dir), json.dumps(overrides)]
    proc = subprocess.run(args, env=env, timeout=300, capture_output=True, text=True)
    assert proc.returncode in (0, 137), proc.stderr[-3000:]
    return proc.returncode


def starts(run_dir: Path) -> list[int]:
    """The step each training of `run_dir` started from (recorded by train_in_subprocess)."""
    return [int(line) for line in (run_dir / "started_at").read_text().split()]


def metric_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl without wall-clock dependent values (throughput, elapsed time, memory)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if "per_s" not in k and not k.startswith("sys/")} for row in rows]
