"""Reading text data: TSV, CSV, JSONL, `<label> <sentence>` lines, plain text, line-aligned parallel files
and datasets saved with Hugging Face `datasets`; every error names the file and the line and says how to fix it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Optional, TypeVar

import numpy as np

from framework import Choice, ComponentConfig, DataError, at_least, between, read_lines, read_utf8

T = TypeVar("T")


class DataFormat(Choice):
    """How a data file is read (`task.format`); auto picks one from the path."""

    auto = "auto"
    tsv = "tsv"
    csv = "csv"
    jsonl = "jsonl"
    label_first = "label_first"
    text = "text"
    hf_disk = "hf_disk"
    parallel = "parallel"


FORMATS = DataFormat.values()
SUFFIXES = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".txt": "text"}
LABEL_FIRST_FIELDS = ("label", "text")  # the two fields of a `<label> <sentence>` line
HF_SPLIT_NAMES = {"val": ("validation", "val", "valid", "dev"), "test": ("test",), "train": ("train",)}

Row = tuple[str, list[str]]  # (where: "file:line", values in the order of the requested columns)


@dataclass
class TextDataConfig(ComponentConfig):
    """Where a text task's data is and how to split and cache it (fields shared by the text tasks)."""

    train_path: Optional[str] = None  # data file (or saved HF dataset dir); null: the generated demo corpus
    val_path: Optional[str] = None  # null: a deterministic val_ratio share of the training data
    test_path: Optional[str] = None  # optional held-out data (`plait eval <run> split=test`)
    format: DataFormat = DataFormat.auto  # auto: from the suffix (a directory: hf_disk; {lang} in the path: parallel)
    val_ratio: float = 0.1  # share of the training data held out for validation when val_path is null
    seed: int = 1234  # seed of the generated corpus and of the train/val split
    cache: bool = True  # tokenize once and reuse the token ids from disk on the next run
    cache_dir: Optional[str] = None  # null: $PLAIT_CACHE_DIR, else ~/.cache/plait

    def validate(self) -> None:
        """Range checks shared by the text tasks (and every int field they add that counts something)."""
        between(self, "val_ratio", 0, 1, low_open=True, high_open=True)
        counts: tuple[str, ...] = ("max_length", "block_size", "bucket_pool_batches", "demo_size", "eval_max_blocks")
        counts += ("beam_size", "eval_beam_size", "max_decode_length", "eval_decode_limit")
        at_least(self, 1, *(n for n in counts if n in vars(self)))


def check_path(path: str, key: str) -> None:
    """A clear error for a path built from an unset `data_root` or naming a file that does not exist."""
    if path.startswith("None/"):
        raise DataError(
            f"{key}={path}: this config builds its paths from data_root, which is not set; "
            "set data_root=<path to shared/data> (the folder holding sst/, multi30k/, tinyshakespeare/)"
        )
    file = Path(path).expanduser()
    if not file.exists() and "#" in path:  # `dir#split` names one split of a saved DatasetDict
        file = Path(path.split("#", 1)[0]).expanduser()
    if "{lang}" not in path and not file.exists():
        raise DataError(f"{key}: data file not found: {file}; fix the path (or data_root)")


def detect_format(path: Path, fmt: str = "auto") -> str:
    """The file format from `fmt` or, when auto, from the path (a directory is a saved HF dataset)."""
    if fmt not in FORMATS:
        raise DataError(f"task.format={fmt} is not known; choose one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    if "{lang}" in str(path):
        return "parallel"
    if path.is_dir() or Path(str(path).split("#", 1)[0]).is_dir():
        return "hf_disk"
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    raise DataError(
        f"{path}: cannot tell the format from the suffix '{path.suffix}'; "
        f"set task.format to one of {', '.join(FORMATS[1:])}"
    )


def _missing(path: Path, where: str, missing: list[str], found: Sequence[str]) -> DataError:
    return DataError(
        f"{where}: missing column(s) {missing}; found {list(found)}. "
        f"Set the task's *_column options to the names in {path.name}"
    )


def _delimited(path: Path, columns: Sequence[str], delimiter: str) -> list[Row]:
    """Records split by the csv module's rules: only a line feed, CRLF or CR ends a record (U+2028 or a form
    feed inside a field is text) and a quoted field may hold line breaks; `file:line` names a record's first line."""
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""), delimiter=delimiter)
    records = _records(reader, path)
    header = next(records, (1, None))[1]
    if header is None:
        raise DataError(f"{path}: the file is empty")
    missing = [c for c in columns if c not in header]
    if missing:
        raise _missing(path, f"{path}:1", missing, header)
    index = [header.index(c) for c in columns]
    rows: list[Row] = []
    for line, record in records:
        if not record or not any(field.strip() for field in record):
            raise DataError(f"{path}:{line}: empty line; remove it")
        if len(record) < len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields, found {len(record)}")
        rows.append((f"{path}:{line}", [record[j] for j in index]))
    return rows


def _records(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each record; a malformed record is a DataError naming its line."""
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{path}:{start}: {exc}; fix the quoting of this record") from None
        yield start, record
        start = reader.line_num + 1


def _jsonl(path: Path, columns: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    text = read_utf8(path)
    lines = text.removesuffix("\n").split("\n") if text else []  # JSON Lines: only \n ends a line (U+2028 is text)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(f"{path}:{i}: empty line; remove it")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{i}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{i}: expected a JSON object per line, found {type(obj).__name__}")
        missing = [c for c in columns if c not in obj]
        if missing:
            raise _missing(path, f"{path}:{i}", missing, sorted(obj))
        rows.append((f"{path}:{i}", [str(obj[c]) for c in columns]))
    return rows


def _label_first(path: Path, columns: Sequence[str]) -> list[Row]:
    missing = [c for c in columns if c not in LABEL_FIRST_FIELDS]
    if missing:
        raise _missing(path, str(path), missing, LABEL_FIRST_FIELDS)
    rows: list[Row] = []
    for i, line in enumerate(read_lines(path), 1):
        label, _, text = line.strip().partition(" ")
        if not text.strip():
            raise DataError(f"{path}:{i}: expected '<label> <sentence>', found {line[:60]!r}")
        fields = {"label": label, "text": text.strip()}
        rows.append((f"{path}:{i}", [fields[c] for c in columns]))
    return rows


def _text(path: Path, columns: Sequence[str]) -> list[Row]:
    missing = [c for c in columns if c != "text"]
    if missing:
        raise _missing(path, str(path), missing, ["text"])
    return [(f"{path}:{i}", [line]) for i, line in enumerate(read_lines(path), 1)]


def load_hf_dataset(spec: str, split: str) -> Any:  # a datasets.Dataset
    """A dataset saved with `save_to_disk` (`dir`, or `dir#split` for one split of a DatasetDict)."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{spec} is a dataset saved with Hugging Face `datasets`; reading it needs that package: "
            "pip install datasets"
        ) from None
    directory, _, wanted = spec.partition("#")
    data = datasets.load_from_disk(directory)
    if isinstance(data, dict):  # DatasetDict: pick the split by name
        names = (wanted,) if wanted else HF_SPLIT_NAMES.get(split, (split,))
        found = next((n for n in names if n in data), None)
        if found is None:
            raise DataError(f"{directory}: no split {' / '.join(names)}; it has {sorted(data)}. Use path#<split>")
        data = data[found]
    return data


def _hf(spec: str, columns: Sequence[str], split: str) -> list[Row]:
    data = load_hf_dataset(spec, split)
    missing = [c for c in columns if c not in data.column_names]
    if missing:
        raise _missing(Path(spec), spec, missing, data.column_names)
    rows: list[Row] = []
    for i, record in enumerate(zip(*(data[c] for c in columns), strict=True), 1):
        values = ["" if v is None else str(v) for v in record]
        if not all(v.strip() for v in values):
            raise DataError(f"{spec} row {i}: empty value in {list(columns)}; drop the row")
        rows.append((f"{spec} row {i}", values))
    return rows


def read_records(path: str, columns: Sequence[str], fmt: str = "auto", *, split: str = "train") -> list[Row]:
    """Rows of (where, values of `columns`) from one file of any supported format."""
    file = Path(path).expanduser()
    kind = detect_format(file, fmt)
    if kind == "hf_disk":
        rows = _hf(path, columns, split)
    elif kind in ("tsv", "csv"):
        rows = _delimited(file, columns, "\t" if kind == "tsv" else ",")
    elif kind == "jsonl":
        rows = _jsonl(file, columns)
    elif kind == "label_first":
        rows = _label_first(file, columns)
    elif kind == "text":
        rows = _text(file, columns)
    else:
        raise DataError(f"{path}: format '{kind}' holds no columns; pick tsv, csv, jsonl, label_first or hf_disk")
    if not rows:
        raise DataError(f"{path}: no examples found")
    return rows


def read_parallel(path: str, langs: tuple[str, str]) -> list[Row]:
    """Line-aligned files `path` with `{lang}` filled in by each of `langs`: rows of (where, [source, target])."""
    files = [Path(path.replace("{lang}", lang)).expanduser() for lang in langs]
    sides = [read_lines(f) for f in files]
    if len(sides[0]) != len(sides[1]):
        raise DataError(
            f"{files[0]} has {len(sides[0])} lines but {files[1]} has {len(sides[1])}; "
            f"line-aligned files must have one translation per line (first extra line: "
            f"{files[0] if len(sides[0]) > len(sides[1]) else files[1]}:{min(map(len, sides)) + 1})"
        )
    return [(f"{files[0]}:{i}", [s, t]) for i, (s, t) in enumerate(zip(*sides, strict=True), 1)]


def ratio_split(rows: list[T], val_ratio: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, val): a seeded random `val_ratio` share (at least one row) held out; the same seed, the same split."""
    if not 0 < val_ratio < 1:
        raise DataError(f"task.val_ratio={val_ratio} must be between 0 and 1 (or set task.val_path)")
    if len(rows) < 2:
        raise DataError(f"only {len(rows)} example(s): too few to hold out a validation share; set task.val_path")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = max(1, int(len(rows) * val_ratio))
    return [rows[i] for i in order[n_val:]], [rows[i] for i in order[:n_val]]


def configured_splits(cfg: TextDataConfig, generated: tuple[str, ...] = ("train", "val", "test")) -> list[str]:
    """Splits a text task has data for: train and val always, test when a file (or the demo corpus) has it."""
    has_test = cfg.test_path is not None or (cfg.train_path is None and "test" in generated)
    return ["train", "val", *(["test"] if has_test else [])]


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
    paths = {"train": cfg.train_path, "val": cfg.val_path, "test": cfg.test_path}
    if only is not None and paths.get(only):
        check_path(str(paths[only]), f"task.{only}_path")
        return {only: read(str(paths[only]), only)}
    out = generated() if cfg.train_path is None else {}
    for split, path in paths.items():
        if path:
            check_path(path, f"task.{split}_path")
            out[split] = read(path, split)
    if "val" not in out:
        # the default holdout splits a list of rows (T is a list then)
        split_off: Callable[[Any], tuple[Any, Any]] = holdout or (
            lambda rows: ratio_split(rows, cfg.val_ratio, cfg.seed)
        )
        out["train"], out["val"] = split_off(out["train"])
    wanted = ("train", "val", "test") if only is None else (only,)
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
        raise DataError(f"the task has no '{split}' data; point it at a file with task.{split}_path=<file>")
    return loaded[split]
