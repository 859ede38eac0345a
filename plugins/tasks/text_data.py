"""Reading text data for the text tasks: TSV, CSV, JSONL, `<label> <sentence>` lines, plain text, line-aligned
parallel files and datasets saved with Hugging Face `datasets`, through the core's streaming readers (a split may be
a file, a glob or a directory; `.gz`/`.bz2`/`.xz` are read transparently); every error names the file and the line
and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, Optional, TypeVar

import numpy as np

from framework import (
    DataError,
    extra_val_split,
    is_pattern,
    read_parallel_rows,
    read_rows,
    split_files,
)
from framework import DataFormat as DataFormat  # the tasks import these from here
from framework import Row as Row
from framework import detect_format as detect_format
from framework import read_utf8 as read_utf8
from plugins.tasks.configs import TextDataConfig

T = TypeVar("T")


def check_path(path: str, key: str) -> None:
    """A clear error for a path built from an unset `data_root`, naming a file that does not exist, or a glob or
    directory without data files."""
    if path.startswith("None/"):
        raise DataError(
            f"{key}={path}: this config builds its paths from data_root, which is not set; "
            "set data_root=<path to shared/data> (the folder holding sst/, multi30k/, tinyshakespeare/)"
        )
    if "{lang}" in path:
        return
    file = Path(path).expanduser()
    if not file.exists() and "#" in path:  # `dir#split` names one split of a saved DatasetDict
        file = Path(path.split("#", 1)[0]).expanduser()
    if is_pattern(path):
        try:
            split_files(path)
        except DataError as exc:
            raise DataError(f"{key}: {exc}") from None
    elif not file.exists():
        raise DataError(f"{key}: data file not found: {file}; fix the path (or data_root)")


def read_records(path: str, columns: Sequence[str], fmt: str = "auto", *, split: str = "train") -> list[Row]:
    """Rows of (where, values of `columns`) from one split of any supported format (a file, glob or directory)."""
    return list(read_rows(path, columns, fmt, split=split))


def read_parallel(path: str, langs: tuple[str, str]) -> list[Row]:
    """Line-aligned files `path` with `{lang}` filled in by each of `langs`: rows of (where, [source, target])."""
    return list(read_parallel_rows(path, langs))


def ratio_indices(n: int, val_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row indices of `n` rows: a seeded random `val_ratio` share (at least one row) held out; the same
    seed, the same split."""
    if not 0 < val_ratio < 1:
        raise DataError(f"task.val_ratio={val_ratio} must be between 0 and 1 (or set task.val_path)")
    if n < 2:
        raise DataError(f"only {n} example(s): too few to hold out a validation share; set task.val_path")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(n * val_ratio))
    return order[n_val:], order[:n_val]


def ratio_split(rows: list[T], val_ratio: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, val): the rows `ratio_indices` picks."""
    train, val = ratio_indices(len(rows), val_ratio, seed)
    return [rows[i] for i in train], [rows[i] for i in val]


def path_key(split: str) -> str:
    """The config key naming the files of `split`: `task.<split>_path`, or `task.extra_val_paths.<name>` for the
    extra validation set `val/<name>`."""
    if split.startswith("val/"):
        return f"task.extra_val_paths.{split.split('/', 1)[1]}"
    return f"task.{split}_path"


def split_paths(cfg: TextDataConfig) -> dict[str, Optional[str]]:
    """Split -> its configured files (None: not configured): train, val, test and each extra validation set."""
    extra = {extra_val_split(name): str(path) for name, path in (cfg.extra_val_paths or {}).items()}
    return {"train": cfg.train_path, "val": cfg.val_path, "test": cfg.test_path, **extra}


def configured_splits(cfg: TextDataConfig, generated: tuple[str, ...] = ("train", "val", "test")) -> list[str]:
    """Splits a text task has data for: train and val always, test when a file (or the demo corpus) has it, and
    the extra validation sets (`val/<name>`) of task.extra_val_paths."""
    has_test = cfg.test_path is not None or (cfg.train_path is None and "test" in generated)
    extra = [extra_val_split(name) for name in cfg.extra_val_paths or {}]
    return ["train", "val", *(["test"] if has_test else []), *extra]


def load_splits(
    cfg: TextDataConfig,
    read: Callable[[str, str], T],
    generated: Callable[[], dict[str, T]],
    holdout: Callable[[T], tuple[T, T]] | None = None,
    *,
    only: str | None = None,
) -> dict[str, T]:
    """Split name -> data from the configured files, the generated demo splits standing in when `train_path`
    is null; without a val split, `holdout` (default: a seeded `val_ratio` share of the rows) splits one off train.

    `only` reads just what that split needs: its own file when it has one (reopened runs evaluate without
    their training data), else the training data it is held out from.
    """
    paths = split_paths(cfg)
    if only is not None and paths.get(only):
        check_path(str(paths[only]), path_key(only))
        return {only: read(str(paths[only]), only)}
    out = generated() if cfg.train_path is None else {}
    for split, path in paths.items():
        if path:
            check_path(path, path_key(split))
            out[split] = read(path, split)
    if "val" not in out:
        # the default holdout splits a list of rows (T is a list then)
        split_off: Callable[[Any], tuple[Any, Any]] = holdout or (
            lambda rows: ratio_split(rows, cfg.val_ratio, cfg.seed)
        )
        out["train"], out["val"] = split_off(out["train"])
    wanted = tuple(paths) if only is None else (only,)
    return {split: out[split] for split in wanted if split in out}


class SplitData(Generic[T]):
    """Each split's prepared data, made on first use: a reopened run reads only the split it evaluates."""

    def __init__(self, prepare: Callable[[str], T]) -> None:
        self._prepare = prepare
        self._data: dict[str, T] = {}

    def __getitem__(self, split: str) -> T:
        if split not in self._data:
            self._data[split] = self._prepare(split)
        return self._data[split]

    def __setitem__(self, split: str, value: T) -> None:
        self._data[split] = value


def split_rows(loaded: dict[str, T], split: str) -> T:
    """The data of `split` from `load_splits(..., only=split)`, or an error naming the config key to set."""
    if split not in loaded:
        raise DataError(f"the task has no '{split}' data; point it at a file with {path_key(split)}=<file>")
    return loaded[split]
