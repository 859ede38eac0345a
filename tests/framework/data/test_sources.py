"""Split sources: a file, a glob or a directory, sorted; saved Hugging Face datasets told apart from plain directories
by their marker files; the records of what a run read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from framework.data.formats import detect_format
from framework.data.sources import describe_files, format_suffix, record_split, split_files
from framework.errors import DataError

Write = Callable[..., Path]  # the `write` fixture (conftest.py)


def test_glob_and_directory_give_their_files_sorted(tmp_path: Path, write: Write) -> None:
    for name in ("b.txt", "a.txt", "c.txt"):
        write(f"d/{name}", "x\n")
    write("d/d.txt", "y\n", ".gz")
    write("d/notes.md", "not data\n")
    write("d/.hidden.txt", "hidden\n")
    names = [p.name for p in split_files(str(tmp_path / "d"))]
    assert names == ["a.txt", "b.txt", "c.txt", "d.txt.gz"]
    assert [p.name for p in split_files(str(tmp_path / "d" / "*.txt"))] == ["a.txt", "b.txt", "c.txt"]
    assert [p.name for p in split_files(str(tmp_path / "**" / "[ab].txt"))] == ["a.txt", "b.txt"]
    assert split_files(tmp_path / "d" / "b.txt") == [tmp_path / "d" / "b.txt"]
    assert detect_format(str(tmp_path / "d")) == "text"


def test_a_saved_dataset_is_told_apart_from_a_directory_of_tsv_files(tmp_path: Path, write: Write) -> None:
    write("plain/part-1.tsv", "text\tlabel\na\tpos\n")
    write("plain/part-0.tsv.gz", "text\tlabel\nb\tneg\n")
    assert detect_format(tmp_path / "plain") == "tsv"
    assert [p.name for p in split_files(tmp_path / "plain")] == ["part-0.tsv.gz", "part-1.tsv"]
    for marker in ("dataset_info.json", "state.json", "dataset_dict.json"):
        write(f"saved_{marker}/{marker}", "{}")
        write(f"saved_{marker}/data.json", "{}")  # a .json inside a saved dataset is not a split file
        assert detect_format(tmp_path / f"saved_{marker}") == "hf_disk"
        assert detect_format(f"{tmp_path / f'saved_{marker}'}#train") == "hf_disk"
    with pytest.raises(DataError, match=r"plain#train: `dir#split` names a split of a dataset saved"):
        detect_format(f"{tmp_path / 'plain'}#train")


@pytest.mark.parametrize(
    ("make", "spec", "message"),
    [
        (lambda w: w("d/readme.md", "hi\n"), "d", r"d: no data files in this directory .*put the data files there"),
        (lambda w: w("d/a.txt", "x\n"), "d/*.tsv", r"d/\*.tsv: the pattern matches no file; fix the path"),
        (
            lambda w: (w("d/a.txt", "x\n"), w("d/b.txt", "")),
            "d/*.txt",
            r"d/b.txt: the file is empty \(part of .*remove it",
        ),
        (lambda w: w("d/b.txt", ""), "d", r"d/b.txt: the file is empty"),
        (lambda w: None, "nope.txt", r"data file not found: .*nope.txt"),
    ],
)
def test_bad_sources_are_errors_naming_the_path_and_the_fix(tmp_path: Path, write: Write, make, spec, message) -> None:
    make(write)
    (tmp_path / "d").mkdir(exist_ok=True)
    with pytest.raises(DataError, match=message):
        split_files(str(tmp_path / spec))


def test_formats_of_a_split(tmp_path: Path, write: Write) -> None:
    assert format_suffix(Path("a.TSV.gz")) == ".tsv" and format_suffix(Path("a.jsonl.xz")) == ".jsonl"
    assert detect_format(tmp_path / "missing.csv.bz2") == "csv"  # a single file: its suffix, before it is read
    with pytest.raises(DataError, match=r"cannot tell the format from the suffix '.train'; set task.format"):
        detect_format(tmp_path / "d.train.gz")
    write("mixed/a.tsv", "text\tlabel\n")
    write("mixed/b.jsonl", "{}\n")
    with pytest.raises(DataError, match=r"mixed holds files of several formats \(tsv: a.tsv; jsonl: b.jsonl\)"):
        detect_format(tmp_path / "mixed")
    assert detect_format(tmp_path / "mixed" / "*.tsv") == "tsv"
    write("explicit/x.train", "1 a\n")
    write("explicit/y.dev", "0 b\n")
    assert [p.name for p in split_files(tmp_path / "explicit", "label_first")] == ["x.train", "y.dev"]
    with pytest.raises(DataError, match=r"or set task.format to read every file in it"):
        split_files(tmp_path / "explicit")


def test_records_of_the_files_a_split_reads(tmp_path: Path, write: Write) -> None:
    a = write("d/a.txt", "one\ntwo\n")
    b = write("d/b.txt", "three\n" * 100_000, ".gz")  # hashed as stored: the compressed bytes
    records = describe_files(split_files(tmp_path / "d"))
    assert records == [
        {"path": str(p), "bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in (a, b)
    ]
    assert json.loads(json.dumps(records)) == records
    write("t.de", "a\n")
    write("t.en", "b\n")
    assert [r["path"] for r in record_split(str(tmp_path / "t.{lang}"), langs=("de", "en"))] == [
        str(tmp_path / "t.de"),
        str(tmp_path / "t.en"),
    ]
    write("saved/state.json", "{}")
    write("saved/train/data-00000-of-00001.arrow", b"\x00arrow")
    assert [Path(r["path"]).name for r in record_split(f"{tmp_path / 'saved'}#train")] == [
        "state.json",
        "data-00000-of-00001.arrow",
    ]
