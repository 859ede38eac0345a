"""Find a learning rate or a batch size for the run `plait train <overrides>` would start, in a minute, before the
long run. Both build the run's own model, data, precision strategy and optimizer through the one build path, in a
temporary directory: nothing is written into a run (with `trainer.resume=<checkpoint>` they start from it and only
read it). The curve or the probes are printed and saved as CSV and PNG into `out=` (default: the current directory).

`plait tune lr`: the learning-rate range test (Smith 2015; fastai's and Lightning's `lr_find`). One optimizer step
at each of `steps` rates spaced evenly in log from `min_lr` to `max_lr`, stopped when the loss diverges (the mean of
the last `window` losses above `diverge` times its lowest, or a non-finite loss). The suggestion: where the smoothed
loss (centred mean over `window` steps) falls fastest against log(rate), after the first 10% of the steps and up to
the lowest smoothed loss. The weights, optimizer and precision state are restored afterwards.
Writes lr_find.csv and lr_find.png.

`plait tune batch-size`: the largest batch that fits and the fastest. Powers of two from 1 until one does not fit,
then a binary search; each candidate takes `steps` real optimizer steps (the first not timed). On CUDA an
out-of-memory error means "does not fit"; on the CPU the peak resident memory of the whole process must stay within
`budget` (default: 80% of the memory available at the start), measured per candidate by resetting Linux's peak
(/proc/self/clear_refs). `want=N` is the effective batch you want: when it does not fit, the batch and
trainer.grad_accum_steps that give it. Writes batch_size.csv and batch_size.png.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from framework.cli.options import as_key_values, convert
from framework.errors import PlaitError

HELP = "find a learning rate (plait tune lr) or a batch size (plait tune batch-size) for `plait train <overrides>`"
USAGE = (
    "plait tune lr [out=<dir>] [min_lr=1e-7] [max_lr=10] [steps=100] [<overrides of plait train> ...]\n"
    "       plait tune batch-size [out=<dir>] [budget=1GB|60%] [want=N] [steps=4] [max_batch=4096] [<overrides> ...]"
)
SUBCOMMANDS = ("lr", "batch-size")
T = TypeVar("T")


@dataclass
class LrOptions:
    """Options of `plait tune lr`."""

    out: str = "."  # directory for lr_find.csv and lr_find.png (never a run directory)
    min_lr: float = 1e-7  # the first rate tried
    max_lr: float = 10.0  # the last rate tried, unless the loss diverges before
    steps: int = 100  # optimizer steps (rates), spaced evenly in log
    diverge: float = 4.0  # stop when the recent mean loss exceeds this many times its lowest
    window: int = 5  # steps in the centred mean that smooths the loss (odd)


@dataclass
class BatchSizeOptions:
    """Options of `plait tune batch-size`."""

    out: str = "."  # directory for batch_size.csv and batch_size.png (never a run directory)
    budget: Optional[str] = None  # peak memory allowed: 1GB, 512MiB, 60% (CPU default 80% available; CUDA: none)
    want: Optional[int] = None  # the effective batch wanted: batch size and grad_accum_steps that give it
    steps: int = 4  # optimizer steps per candidate (the first not timed)
    max_batch: int = 4096  # the largest batch tried


def split_options(argv: list[str], options: type[T]) -> tuple[T, list[str]]:
    """(typed options, the overrides of `plait train`): a `key=value` whose key is an option of the command is
    the option; everything else is an override (`model=lstm`, `trainer.device=cuda`, `experiment=...`)."""
    hints = typing.get_type_hints(options)
    names = {f.name for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    overrides = []
    for arg in as_key_values(argv, options):  # type: ignore[arg-type]
        key, sep, value = arg.partition("=")
        if not sep:
            raise PlaitError(f"expected key=value, got '{arg}'. usage: {USAGE}")
        if key in names:
            values[key] = convert(key, value, hints[key])
        else:
            overrides.append(arg)
    return options(**values), overrides


def main(argv: list[str]) -> None:
    """`plait tune lr|batch-size [options] [overrides]`."""
    if not argv or argv[0] not in SUBCOMMANDS:
        got = f"'{argv[0]}'" if argv else "nothing"
        raise PlaitError(f"plait tune needs what to tune: {' or '.join(SUBCOMMANDS)} (got {got}). usage: {USAGE}")
    if argv[0] == "lr":
        tune_lr(*split_options(argv[1:], LrOptions))
    else:
        tune_batch_size(*split_options(argv[1:], BatchSizeOptions))


def tune_lr(opts: LrOptions, overrides: list[str]) -> None:
    """Run the range test on the composed run; print, write the CSV and PNG, print the override to use."""
    from framework.cli.hydra_app import compose_run
    from framework.cli.tune_report import lr_plot, lr_table, output_dir, write_csv
    from framework.engine.lr_finder import LRRange, find_lr
    from framework.engine.tuning import Stepper, tuning_build
    from framework.plugins import conf_dir

    settings = LRRange(opts.min_lr, opts.max_lr, opts.steps, opts.window, opts.diverge)
    settings.check()
    out = output_dir(opts.out)
    cfg = compose_run(overrides, conf_dir())
    with tuning_build(cfg) as built:
        run = built.cfg
        print(
            f"lr range test: {settings.min_lr:g} .. {settings.max_lr:g} over {settings.steps} steps, "
            f"optimizer={run.optimizer._name_} precision={run.precision._name_}, batch {run.trainer.batch_size} "
            f"x {run.trainer.grad_accum_steps} on {built.device}"
        )
        curve = find_lr(Stepper.of(built), settings)
    print(lr_table(curve))
    print(f"stopped: {curve.stopped}")
    write_csv(curve.rows(), out / "lr_find.csv")
    files = [out / "lr_find.csv"] + ([out / "lr_find.png"] if lr_plot(curve, out / "lr_find.png") else [])
    print(f"curve: {', '.join(str(f) for f in files)}")
    print(settings.rule)
    if curve.suggestion is None:
        print("no suggestion: the loss did not fall over the range; widen it (min_lr=, max_lr=) or check the data")
        return
    print(f"suggested: optimizer.lr={curve.suggestion:.3g}   (configured: {cfg.optimizer.lr:g})")


def tune_batch_size(opts: BatchSizeOptions, overrides: list[str]) -> None:
    """Search the batch size on the composed run; print the probes, write the CSV and PNG, print the keys to use."""
    from framework.cli.hydra_app import compose_run
    from framework.cli.tune_report import (
        batch_header,
        batch_line,
        batch_plot,
        batch_rows,
        batch_table,
        output_dir,
        write_csv,
    )
    from framework.engine.batch_finder import accumulation_for, find_batch_size, parse_size
    from framework.engine.memory import size_text
    from framework.engine.tuning import Stepper, tuning_build
    from framework.plugins import conf_dir

    budget = parse_size(opts.budget) if opts.budget else None
    if opts.want is not None and opts.want < 1:
        raise PlaitError(f"want={opts.want}: the effective batch must be at least 1")
    out = output_dir(opts.out)
    cfg = compose_run(overrides, conf_dir())
    if cfg.trainer.max_tokens is not None:
        raise PlaitError(
            f"trainer.max_tokens={cfg.trainer.max_tokens}: this run batches by a token budget, and plait tune "
            "batch-size searches trainer.batch_size; add trainer.max_tokens=null to search the batch size"
        )
    with tuning_build(cfg) as built:
        judged = "no out-of-memory error" if built.device.type == "cuda" and budget is None else "peak memory"
        print(
            f"batch-size search on {built.device}, precision={built.cfg.precision._name_}, {opts.steps} steps "
            f"each, judged by {judged}; in the order measured:"
        )
        print(batch_header(built.task.throughput_unit), flush=True)
        search = find_batch_size(
            Stepper.of(built),
            budget=budget,
            steps=opts.steps,
            max_batch=opts.max_batch,
            on_probe=lambda probe: print(batch_line(probe), flush=True),
        )
    if search.budget is not None:
        judged = f"peak memory within {size_text(search.budget)}"
    print(f"\nby batch ({judged}):")
    print(batch_table(search))
    write_csv(batch_rows(search), out / "batch_size.csv")
    files = [out / "batch_size.csv"] + ([out / "batch_size.png"] if batch_plot(search, out / "batch_size.png") else [])
    print(f"probes: {', '.join(str(f) for f in files)}")
    if search.largest == 0:
        raise PlaitError(f"not even a batch of 1 fits ({judged}); shrink the model or raise budget=")
    fastest = search.fastest
    print(
        f"largest that fits: {search.largest}"
        + (f"; fastest: {fastest.batch} ({fastest.per_s:,.0f} {search.unit}/s)" if fastest else "")
    )
    if opts.want is None:
        print(f"suggested: trainer.batch_size={search.largest}")
        return
    batch, accum = accumulation_for(opts.want, search.largest)
    note = "" if batch * accum == opts.want else f" (effective {batch * accum}; {opts.want} has no fitting divisor)"
    print(f"suggested: trainer.batch_size={batch} trainer.grad_accum_steps={accum}{note}")
