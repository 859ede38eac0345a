"""Start-up time of the CLI: medians of N runs of each command, next to `python -c "import torch"`, and which heavy
modules (torch, numpy, transformers) each command imports.

    OMP_NUM_THREADS=1 python tools/bench/startup.py [--repeats 5] [--baseline /path/to/main/checkout]

Targets (issue 22): `plait list`, `plait describe <kind>/<key>` and `plait --help` <= 0.5 s, `plait train --help`
<= 1.0 s (Hydra composes there), none of them importing torch, numpy or transformers. Commands run interleaved so a
busy phase of the machine hits all of them; the CPU, its threads and the load average are printed with the table,
and so is each command's CPU time (user + system), which other jobs on a shared machine inflate far less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PLAIT = str(Path(sys.executable).with_name("plait"))
COMMANDS = {  # name -> plait arguments (None: the baseline, `python -c "import torch"`)
    'python -c "import torch"': None,
    "plait --help": ["--help"],
    "plait list": ["list"],
    "plait describe model/transformer_encoder": ["describe", "model/transformer_encoder"],
    "plait train --help": ["train", "--help"],
}
HEAVY = ("torch", "numpy", "transformers")
PROBE = """
import json, sys
from framework.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps([m for m in {heavy!r} if m in sys.modules]), file=sys.stderr)
"""


def command(argv: list[str] | None) -> list[str]:
    """The command line that is timed."""
    return [sys.executable, "-c", "import torch"] if argv is None else [PLAIT, *argv]


def heavy_imports(argv: list[str]) -> list[str]:
    """The heavy modules `plait <argv>` leaves in sys.modules (run once, in-process through `main`)."""
    probe = PROBE.format(argv=argv, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return list(json.loads(out.stderr.strip().splitlines()[-1]))


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def timed(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def summary(values: list[float]) -> str:
    """`median (min-max)` of a list of seconds."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    """Time every command `--repeats` times, interleaved (with `--baseline`: also on another checkout, alternating);
    print a markdown table of wall and CPU medians and the heavy modules each command imports."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", help="another checkout's root (e.g. main's), run alternately as the 'before'")
    args = ap.parse_args()
    trees: dict[str, dict[str, str] | None] = {"now": None}
    if args.baseline:
        trees = {"before": {**os.environ, "PYTHONPATH": args.baseline}, "after": None}
    load_before = os.getloadavg()
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {(t, n): [] for t in trees for n in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            for tree, env in trees.items():
                runs[(tree, name)].append(timed(command(argv), env))
    load_after = os.getloadavg()
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of {args.repeats}"
    )
    print()
    columns = [f"{tree}: {what}" for tree in trees for what in ("wall s (min-max)", "CPU s")]
    heavy_column = "heavy modules imported" + (" (after)" if args.baseline else "")
    print(f"| command | {' | '.join(columns)} | {heavy_column} |")
    print("|---" * (len(columns) + 2) + "|")
    for name, argv in COMMANDS.items():
        cells = []
        for tree in trees:
            walls, cpus = zip(*runs[(tree, name)], strict=True)
            cells += [summary(list(walls)), f"{statistics.median(cpus):.2f}"]
        heavy = "torch" if argv is None else ", ".join(heavy_imports(argv)) or "none"
        print(f"| `{name}` | {' | '.join(cells)} | {heavy} |")


if __name__ == "__main__":
    main()
