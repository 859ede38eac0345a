"""Start-up time of the CLI: medians of N runs of each command, next to `python -c "import torch"`, and which heavy
modules (torch, numpy, transformers) each command imports.

    OMP_NUM_THREADS=1 python tools/bench/startup.py [--repeats 5]

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


def main() -> None:
    """Time every command `--repeats` times, interleaved; print a markdown table of medians, spread, heavy imports."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(command(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    load_after = os.getloadavg()
    torch_s = statistics.median(times['python -c "import torch"'])
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
        f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print()
    print(
        f"| command | median s (of {args.repeats}) | min-max | vs import torch | CPU s (median) | heavy modules imported |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        argv = COMMANDS[name]
        heavy = "torch" if argv is None else ", ".join(heavy_imports(argv)) or "none"
        med = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        cpu_s = statistics.median(cpu[name])
        print(f"| `{name}` | {med:.2f} | {spread} | {med / torch_s:.2f}x | {cpu_s:.2f} | {heavy} |")


if __name__ == "__main__":
    main()
