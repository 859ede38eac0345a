"""`plait eval <run dir or checkpoint> [split=test]`: evaluate a trained run; results printed and saved as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from framework.cli.commands._common import CommonOptions, open_run, parse_args
from framework.errors import PlaitError

HELP = "evaluate a trained run on a split: plait eval <run dir or checkpoint> [split=test] (writes eval_<split>.json)"
USAGE = (
    "plait eval <run dir or checkpoint> [split=val|test] [batch_size=N] [device=cpu] [checkpoint=best|last|<dir>] "
    "[weights=model|ema] [task.<key>=<value> ...]"
)
RESULT_FILE = "eval_{split}.json"  # eval_{split}_{weights}.json for weights other than the trained ones


@dataclass
class EvalOptions(CommonOptions):
    """Options of `plait eval`."""

    split: Optional[str] = None  # val | test | train | val/<name>; null: test when the task has it, else val
    batch_size: Optional[int] = None  # null: the run's trainer.eval_batch_size (or batch_size)


def main(argv: list[str]) -> None:
    """Reopen the run, evaluate the split, print the metrics and write them next to the checkpoint."""
    from framework.engine.inference import evaluate_split

    run, opts, overrides = parse_args(argv, EvalOptions, USAGE)
    built = open_run(run, opts, overrides)
    checkpoint = built.checkpoint
    assert checkpoint is not None
    task = built.task
    splits = task.splits()
    split = opts.split or ("test" if "test" in splits else "val")
    if split not in splits:
        raise PlaitError(
            f"the run's task has no '{split}' split (it has {', '.join(splits)}); "
            f"point the task at one, e.g. task.{split}_path=<file> (or task.extra_val_paths.<name>=<file>: val/<name>)"
        )
    metrics = evaluate_split(built, split, opts.batch_size)
    details = task.details()
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "split": split, "weights": opts.weights}
    result.update(overrides=overrides, metrics=metrics, **details)
    suffix = "" if opts.weights == "model" else f"_{opts.weights}"
    target = checkpoint / RESULT_FILE.format(split=f"{split.replace('/', '_')}{suffix}")  # val/<name>: val_<name>
    path: Path | None = target
    try:
        target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:  # a read-only run directory is evaluated all the same
        print(f"note: could not write {target} ({exc.strerror}); the results are printed only")
        path = None
    for key, value in metrics.items():
        print(f"{key:<24} {value:.4f}")
    if details.get("summary"):
        print()
        print(details["summary"])
    if path is not None:
        print(f"\nresults: {path}")
