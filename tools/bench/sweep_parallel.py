"""Wall time of one sweep of 4 good trials with the joblib launcher, n_jobs=1 against n_jobs=2, on this machine.

    python tools/bench/sweep_parallel.py [--steps 150] [--repeats 1]

Each setting runs the same 4 trials (`optimizer.lr=1e-3,2e-3,3e-3,4e-3` of the main job, shortened); the
thread policy gives each trial its share of the cores (PLAIT_CONCURRENT_TRIALS from n_jobs). The settings
alternate when repeated, so slow drift of a shared machine affects both. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep_seconds(n_jobs: int, steps: int, root: Path) -> float:
    """Run the 4-trial sweep with `n_jobs` parallel trials; wall-clock seconds of the whole command."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # let the thread policy decide
    cmd = [
        sys.executable, "-m", "framework.cli", "train", "-m", "hydra/launcher=joblib",
        f"hydra.launcher.n_jobs={n_jobs}", "optimizer.lr=1e-3,2e-3,3e-3,4e-3", f"trainer.max_steps={steps}",
        f"trainer.eval_every_n_steps={steps}", "trainer.checkpoint_every_n_steps=0", "logger=[jsonl]",
        f"hydra.sweep.dir={root / f'n{n_jobs}-{time.monotonic_ns()}'}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sweep with n_jobs={n_jobs} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="training steps per trial")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each setting, alternating")
    args = ap.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for n_jobs in (1, 2):
                times[n_jobs].append(sweep_seconds(n_jobs, args.steps, Path(tmp)))
    base = statistics.median(times[1])
    print(f"{os.cpu_count()} CPUs; 4 trials of {args.steps} steps; medians of {args.repeats}")
    print("| n_jobs | wall s | speed-up vs n_jobs=1 |\n|---|---|---|")
    for n_jobs, values in times.items():
        print(f"| {n_jobs} | {statistics.median(values):.1f} | {base / statistics.median(values):.2f}x |")


if __name__ == "__main__":
    main()
