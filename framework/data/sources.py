"""Where a split's data is: a file, a glob or a directory resolved to its sorted files, and a record of those
files (size, content hash) so a run says exactly what it trained on.

A directory is a dataset saved with Hugging Face `datasets` only when its files say so (`dataset_info.json`,
`state.json` or a DatasetDict's `dataset_dict.json`); any other directory is a split of the data files in it.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from framework.errors import DataError

COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}  # read transparently
FORMAT_SUFFIXES = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".txt": "text"}
HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # written by `datasets`' save_to_disk
HASH_CHUNK = 1 << 20
_PATTERN_CHARS = frozenset("*?[")


def compression(path: Path) -> str | None:
    """The compression of `path` from its last suffix (gzip, bzip2, xz), or None."""
    return COMPRESSIONS.get(path.suffix.lower())


def format_suffix(path: Path) -> str:
    """The suffix that decides the format: the last one, or the one before a compression suffix (`a.tsv.gz`)."""
    if compression(path) is not None:
        path = path.with_suffix("")
    return path.suffix.lower()


def is_hf_dataset(directory: Path) -> bool:
    """Whether `directory` holds a dataset saved with Hugging Face `datasets` (its marker files say so)."""
    return directory.is_dir() and any((directory / name).is_file() for name in HF_MARKERS)


def is_pattern(spec: str) -> bool:
    """Whether `spec` is a glob (`data/*.txt`) rather than the name of one file or directory."""
    return not Path(spec).expanduser().exists() and bool(_PATTERN_CHARS & set(spec))


def split_files(spec: str | Path, fmt: str = "auto") -> list[Path]:
    """The files of one split, sorted: a file, the files a glob matches, or the data files in a directory.

    In a directory the data files are those with a known data suffix (compressed or not); with an explicit
    `fmt`, every visible file in it. An empty file matched by a glob or in a directory is an error.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return _nonempty(_directory_files(path, fmt), text)
    if is_pattern(text):
        matched = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not matched:
            raise DataError(f"{text}: the pattern matches no file; fix the path or the pattern")
        return _nonempty(matched, text)
    if not path.is_file():
        raise DataError(f"data file not found: {path}; fix the path")
    return [path]


def _directory_files(directory: Path, fmt: str) -> list[Path]:
    if is_hf_dataset(directory):
        raise DataError(
            f"{directory} is a dataset saved with Hugging Face `datasets`; read it with task.format=hf_disk"
        )
    visible = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    files = visible if fmt != "auto" else [p for p in visible if format_suffix(p) in FORMAT_SUFFIXES]
    if not files:
        known = ", ".join(sorted(FORMAT_SUFFIXES))
        raise DataError(
            f"{directory}: no data files in this directory (looked for {known}, also .gz/.bz2/.xz compressed) and "
            f"no dataset saved with Hugging Face `datasets` ({' / '.join(HF_MARKERS)}); put the data files there, "
            "point at a file or a glob instead, or set task.format to read every file in it"
        )
    return files


def _nonempty(files: list[Path], spec: str) -> list[Path]:
    for file in files:
        if file.stat().st_size == 0:
            raise DataError(f"{file}: the file is empty (part of {spec}); remove it or narrow the path to skip it")
    return files


@dataclass(frozen=True)
class DataFile:
    """One file a run read: its path, size in bytes and the sha256 of its content (as stored, compressed or not)."""

    path: str
    bytes: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> DataFile:
        """The record of `path`, its content hashed in chunks (any size, little memory)."""
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
        return cls(str(path), path.stat().st_size, digest.hexdigest())


def describe_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """JSON-ready records ({path, bytes, sha256}) of `paths`, in their order."""
    return [asdict(DataFile.of(p)) for p in paths]


def source_files(spec: str, fmt: str = "auto", langs: Iterable[str] = ()) -> list[Path]:
    """Every file a split reads: its data files, both sides of `{lang}` files, or all files of a saved dataset."""
    if "{lang}" in spec:
        return [f for lang in langs for f in split_files(spec.replace("{lang}", lang), fmt)]
    directory = Path(spec.split("#", 1)[0]).expanduser()
    if is_hf_dataset(directory):
        return sorted(p for p in directory.rglob("*") if p.is_file())
    return split_files(spec, fmt)


def record_split(spec: str, fmt: str = "auto", langs: Iterable[str] = ()) -> list[dict[str, Any]]:
    """JSON-ready records of every file a split reads (for the run's config: what it trained on)."""
    return describe_files(source_files(spec, fmt, langs))
