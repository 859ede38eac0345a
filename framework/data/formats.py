"""The formats data files come in (`task.format`), and telling a split's format from its path when it is auto."""

from __future__ import annotations

from pathlib import Path

from framework.data.sources import FORMAT_SUFFIXES, format_suffix, is_hf_dataset, is_pattern, split_files
from framework.errors import DataError
from framework.schema import Choice


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


def detect_format(path: Path | str, fmt: str = "auto") -> str:
    """The format from `fmt` or, when auto, from the path: `{lang}` in it is parallel files, a saved Hugging Face
    dataset is hf_disk, otherwise the suffix of its file(s) (a glob or a directory: one format for all)."""
    if fmt not in FORMATS:
        raise DataError(f"task.format={fmt} is not known; choose one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    spec = str(path)
    if "{lang}" in spec:
        return "parallel"
    base = Path(spec.split("#", 1)[0]).expanduser()
    if is_hf_dataset(base):
        return "hf_disk"
    if "#" in spec and base.is_dir() and not Path(spec).exists():
        raise DataError(
            f"{spec}: `dir#split` names a split of a dataset saved with Hugging Face `datasets`, but {base} holds "
            "none (no dataset_info.json, state.json or dataset_dict.json); point at its data files instead"
        )
    if base.is_dir() or is_pattern(spec):
        return _one_format(spec, split_files(spec))
    return _suffix_format(Path(spec))


def _suffix_format(path: Path) -> str:
    suffix = format_suffix(path)
    if suffix in FORMAT_SUFFIXES:
        return FORMAT_SUFFIXES[suffix]
    raise DataError(
        f"{path}: cannot tell the format from the suffix '{suffix}'; set task.format to one of {', '.join(FORMATS[1:])}"
    )


def _one_format(spec: str, files: list[Path]) -> str:
    found: dict[str, list[str]] = {}
    for file in files:
        found.setdefault(_suffix_format(file), []).append(file.name)
    if len(found) > 1:
        mixed = "; ".join(
            f"{fmt}: {', '.join(names[:3])}{' …' if len(names) > 3 else ''}" for fmt, names in found.items()
        )
        raise DataError(f"{spec} holds files of several formats ({mixed}); point at one format with a glob, e.g. *.tsv")
    return next(iter(found))
