"""Start-up time of the CLI: medians of N runs of each command, next to `python -c "import torch"`.

    python tools/bench/startup.py [--repeats 5]

Targets (issue 9): `plait --help` < 0.3 s, `plait list` <= 1.1x import torch, `plait train --help` <= `plait list`
+ 0.5 s. Commands run interleaved so a busy phase of the machine hits all of them; noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PLAIT = str(Path(sys.executable).with_name("plait"))
COMMANDS = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "plait --help": [PLAIT, "--help"],
    "plait list": [PLAIT, "list"],
    "plait train --help": [PLAIT, "train", "--help"],
}


def main() -> None:
    """Time every command `--repeats` times, interleaved; print a markdown table of medians and spread."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    torch_s = statistics.median(times['python -c "import torch"'])
    print(f"| command | median s (of {args.repeats}) | min-max | vs import torch |")
    print("|---|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| `{name}` | {med:.2f} | {min(values):.2f}-{max(values):.2f} | {med / torch_s:.2f}x |")


if __name__ == "__main__":
    main()
