"""Reads the data, trains the tokenizer and fills the token cache exactly as `plait train` with the same overrides
would, then stops: a cluster job's GPUs never wait for tokenization, and the training run that follows finds the
tokenizer and the token stores in the cache and reaches its first step at once.

Prints each step with its time: the files read (and how many were hashed rather than remembered), the tokenizer
(trained, or loaded from the cache), and every token store (prepared, or found cached): path, tokens, id type,
size. `run_dir=<dir>` also keeps the tokenizer and data_files.json there; by default they go to a temporary
directory (the cache keeps what `plait train` needs).
"""

from __future__ import annotations

from typing import Any

HELP = "read the data, train the tokenizer and fill the token cache as `plait train` would, then stop"
USAGE = "plait prepare [run_dir=<dir>] [overrides of the `plait train` to prepare for ...]"
MB = 1e6


def describe_step(row: dict[str, Any]) -> str:
    """One printed line for a step row: its name, state, counts and sizes, where it wrote, and its time."""
    details = dict(row)
    name, seconds = details.pop("step", "?"), details.pop("seconds", None)
    where = details.pop("store", None)
    parts = [str(details.pop("state"))] if "state" in details else []
    for key, value in details.items():
        if key == "bytes":
            parts.append(f"{value / MB:,.1f} MB")
        elif isinstance(value, int):
            parts.append(f"{value:,} {key}")
        else:
            parts.append(f"{key} {value}")
    line = f"  {name:<14} {', '.join(parts)}"
    line += f"  [{seconds:,.1f} s]" if seconds is not None else ""
    return line + (f"\n  {'':<14} {where}" if where else "")


def split_run_dir(argv: list[str]) -> tuple[str | None, list[str]]:
    """(`run_dir=` value or None, the other arguments)."""
    run_dir = next((a.split("=", 1)[1] for a in argv if a.startswith("run_dir=")), None)
    return run_dir, [a for a in argv if not a.startswith("run_dir=")]


def main(argv: list[str]) -> None:
    """Prepare the data of `plait train <argv>` and print what was prepared."""
    from pathlib import Path

    from framework.cli.hydra_app import compose_run
    from framework.engine.preparation import prepare_data
    from framework.plugins import conf_dir

    run_dir, overrides = split_run_dir(argv)
    cfg = compose_run(overrides, conf_dir())
    done = prepare_data(cfg, Path(run_dir) if run_dir else None)
    print(f"prepared task={cfg.task._name_} tokenizer={cfg.tokenizer._name_} (threads: {done.threads.n})")
    for row in done.steps:
        print(describe_step(row))
    print(f"  vocabulary     {done.spec.vocab_size:,} ids")
    if run_dir:
        print(f"  run files      {run_dir} (tokenizer/, data_files.json)")
    print(f"done in {done.seconds:,.1f} s; `plait train` with the same overrides will find all of it in the cache")
