"""Datasets saved with Hugging Face `datasets` (`save_to_disk`), read in batches from their memory-mapped Arrow
files; `datasets` is imported only here, and only when such a dataset is read (the `plait[data]` extra).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from framework.data.records import Row, check_columns
from framework.errors import DataError

EXTRA = "pip install 'plait[data]'"
SPLIT_NAMES = {"val": ("validation", "val", "valid", "dev"), "test": ("test",), "train": ("train",)}
BATCH_ROWS = 1000


def _datasets(spec: str) -> Any:
    try:
        return importlib.import_module("datasets")
    except ImportError:
        raise DataError(
            f"{spec} is a dataset saved with Hugging Face `datasets`; reading it needs that package: "
            f"{EXTRA} (or: pip install datasets)"
        ) from None


def load_hf_dataset(spec: str, split: str) -> Any:
    """The `datasets.Dataset` saved at `spec` (`dir`, or `dir#split` for one split of a DatasetDict); a
    DatasetDict's split is found by `split`'s usual names (val: validation, val, valid, dev)."""
    directory, _, wanted = spec.partition("#")
    if not Path(directory).expanduser().is_dir():
        raise DataError(f"{directory}: no such directory; point at a dataset saved with `save_to_disk`")
    data = _datasets(spec).load_from_disk(str(Path(directory).expanduser()))
    if isinstance(data, dict):  # DatasetDict: pick the split by name
        names = (wanted,) if wanted else SPLIT_NAMES.get(split, (split,))
        found = next((n for n in names if n in data), None)
        if found is None:
            raise DataError(f"{directory}: no split {' / '.join(names)}; it has {sorted(data)}. Use path#<split>")
        data = data[found]
    return data


def hf_rows(spec: str, columns: Sequence[str], split: str, batch_rows: int = BATCH_ROWS) -> Iterator[Row]:
    """Rows of (`spec row i`, values of `columns` as text) of a saved dataset, read `batch_rows` at a time."""
    data = load_hf_dataset(spec, split)
    check_columns(Path(spec).name, spec, columns, data.column_names)
    number = 0
    for batch in data.select_columns(list(columns)).iter(batch_size=batch_rows):
        for record in zip(*(batch[c] for c in columns), strict=True):
            number += 1
            values = ["" if v is None else str(v) for v in record]
            if not all(v.strip() for v in values):
                raise DataError(f"{spec} row {number}: empty value in {list(columns)}; drop the row")
            yield f"{spec} row {number}", values
