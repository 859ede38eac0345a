"""Thread-pool collapse under a neighbour: one main job alone vs two started together, per thread policy.

    python tools/bench/threads.py --repeats 2 [--policies torch_default,plait_default,one] [--alone-only]

Each policy is a set of environment variables for `plait train` (OMP_* must be set before torch starts).
Rows of metrics.jsonl are time-stamped as they appear, so the tokens/s of a pair counts only the logging
windows in which both jobs were running; the first window (warm-up) is dropped. Prints a markdown table
of medians (and min-max spread) over the repeats. The numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CPUS = str(len(os.sched_getaffinity(0)))
POLICIES: dict[str, dict[str, str]] = {
    # torch's own default: one thread per CPU, OpenMP threads spin while waiting; a fixed number is never governed
    "torch_default": {"OMP_NUM_THREADS": CPUS},
    "plait_default": {},  # what `plait train` does: every CPU, the governor steps down while neighbours are busy
    "one": {"OMP_NUM_THREADS": "1"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": CPUS},  # the previous default: threads sleep
    "spin10k": {"GOMP_SPINCOUNT": "10000", "OMP_NUM_THREADS": CPUS},  # spin ~10k iterations, then sleep
}


def plait_cmd(run_dir: Path, steps: int, precision: str) -> list[str]:
    """The main job, short, logging to jsonl only."""
    return [
        str(Path(sys.executable).with_name("plait")),
        "train",
        f"trainer.max_steps={steps}",
        "trainer.checkpoint_every_n_steps=0",
        f"precision={precision}",
        "logger=[jsonl]",
        f"hydra.run.dir={run_dir}",
    ]


def clean_env(policy: dict[str, str]) -> dict[str, str]:
    """The caller's environment without thread settings, plus the policy's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "MKL_", "PLAIT_NUM"))}
    env.update(policy)
    return env


def run_jobs(
    n_jobs: int, policy: dict[str, str], steps: int, precision: str, tmp: Path, max_s: float = 60.0
) -> list[float]:
    """Start `n_jobs` main jobs together; tokens/s of each over the windows in which all were running.

    Jobs still running after `max_s` seconds (a collapsed pool) are stopped; their logged windows count.
    """
    dirs = [Path(tempfile.mkdtemp(dir=tmp)) for _ in range(n_jobs)]
    procs = [
        subprocess.Popen(
            plait_cmd(d, steps, precision),
            env=clean_env(policy),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for d in dirs
    ]
    seen: list[list[tuple[float, dict]]] = [[] for _ in dirs]
    started = time.perf_counter()
    while True:
        done = all(p.poll() is not None for p in procs)
        now = time.perf_counter()
        if not done and now - started > max_s:
            for p in procs:
                p.terminate()
                p.wait()
            done = True
        for rows, d in zip(seen, dirs, strict=True):
            path = d / "metrics.jsonl"
            if path.exists():
                lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                rows.extend((now, row) for row in lines[len(rows) :])
        if done:
            break
        time.sleep(0.05)
    for p in procs:
        if p.returncode not in (0, -15, 143):  # 143: stopped by our SIGTERM after max_s (checkpoint, then exit)
            raise SystemExit(f"plait train failed: {p.stderr.read().decode()[-2000:]}")
    timed = [[(t, r["train/tokens_per_s"]) for t, r in rows if "train/tokens_per_s" in r][1:] for rows in seen]
    if not all(timed):
        return [0.0] * n_jobs  # not one window after warm-up within max_s
    start = max(rows[0][0] for rows in timed)  # all jobs past warm-up
    end = min(rows[-1][0] for rows in timed)  # until the first one finished
    out = []
    for rows in timed:
        inside = [v for t, v in rows if start <= t <= end]
        if n_jobs > 1 and len(inside) < 3:  # start-up jitter left (almost) no overlap: not a measurement of a pair
            return [math.nan] * n_jobs
        out.append(statistics.median(inside or [v for _, v in rows]))
    return out


def main() -> None:
    """Measure every policy alone and in pairs, interleaved over repeats; print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=500, help="long enough that start-up jitter leaves an overlap")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--policies", default="torch_default,plait_default,one,spin10k")
    ap.add_argument("--alone-only", action="store_true", help="skip the pairs: what a policy costs a job alone")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="stop a run (pair) after this long")
    args = ap.parse_args()
    names = args.policies.split(",")
    alone: dict[str, list[float]] = {n: [] for n in names}
    pair: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in names:  # interleaved, so slow phases of the machine hit every policy
                alone[name] += run_jobs(1, POLICIES[name], args.steps, args.precision, Path(tmp), args.max_seconds)
                if not args.alone_only:
                    pair[name] += run_jobs(2, POLICIES[name], args.steps, args.precision, Path(tmp), args.max_seconds)
                print(
                    f"repeat {r} {name}: alone {alone[name][-1]:.0f}  pair {pair[name][-2:]}",
                    file=sys.stderr,
                    flush=True,
                )
    base = statistics.median(alone["torch_default"]) if "torch_default" in alone else None

    def cell(values: list[float]) -> str:
        values = [v for v in values if not math.isnan(v)] or [math.nan]
        return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"

    print("| policy | alone tokens/s | each of two together | together / alone | alone vs torch_default |")
    print("|---|---|---|---|---|")
    for name in names:
        a = statistics.median(alone[name])
        p = statistics.median([v for v in pair[name] if not math.isnan(v)] or [math.nan])
        vs = f"{a / base:.2f}x" if base else "-"
        print(f"| {name} | {cell(alone[name])} | {cell(pair[name])} | {p / a:.2f}x | {vs} |")


if __name__ == "__main__":
    main()
