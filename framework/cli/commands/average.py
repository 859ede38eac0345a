"""`plait average <run> last=N | best=N`: write a checkpoint holding the mean weights of N checkpoints of a run.

The result, `<run>/checkpoints/averaged_last<N>/` (or `averaged_best<N>/`), opens like any checkpoint:
`plait eval <run> checkpoint=averaged_last3` (predict, translate, generate, answer, export alike).
`--last N` and `--best N` are accepted for `last=N` and `best=N`, as for every command (framework.cli.options).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from framework.cli.options import parse_options
from framework.errors import PlaitError

HELP = "average the weights of a run's last (or best) N checkpoints into a new checkpoint: plait average <run> last=3"
USAGE = "plait average <run dir> last=N | best=N [name=<checkpoint name>]"


@dataclass
class AverageOptions:
    """Options of `plait average`."""

    last: Optional[int] = None  # average the newest N checkpoints (the run must keep them: keep_last_checkpoints)
    best: Optional[int] = None  # average the N best checkpoints by the monitored metric (keep_best_checkpoints)
    name: Optional[str] = None  # the new checkpoint's directory name; null: averaged_last<N> / averaged_best<N>


def main(argv: list[str]) -> None:
    """Pick the checkpoints, average them, write the result and say what was averaged."""
    from framework.engine.averaging import best_checkpoints, checkpoints_dir, last_checkpoints, write_average

    parsed = parse_options(argv, AverageOptions, USAGE)
    run, opts = parsed.positional[0], parsed.options
    if (opts.last is None) == (opts.best is None):
        raise PlaitError(f"give exactly one of last=N or best=N. usage: {USAGE}")
    n = opts.last if opts.last is not None else opts.best
    assert n is not None
    if n < 1:
        raise PlaitError(f"{'last' if opts.last is not None else 'best'}={n}: average at least 1 checkpoint")
    directory = checkpoints_dir(run)
    picked = last_checkpoints(directory, n) if opts.last is not None else best_checkpoints(directory, n)
    kind = "last" if opts.last is not None else "best"
    written = write_average(picked, opts.name or f"averaged_{kind}{n}")
    print(f"averaged the model weights of {len(picked)} checkpoint(s): {', '.join(p.name for p in picked)}")
    print(f"wrote {written}")
    print(f"open it with: plait eval {run} checkpoint={written.name}")
