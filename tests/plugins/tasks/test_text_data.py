"""Readers of every supported format, and the errors bad input gets: each names the file and the line."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from plugins.tasks.text_data import (
    DataError,
    TextDataConfig,
    check_path,
    load_splits,
    ratio_split,
    read_parallel,
    read_records,
)


def write(path: Path, text: str | bytes) -> str:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("name", "content", "fmt", "last_line"),
    [
        ("d.tsv", "text\tlabel\ngood film\tpos\nbad film\tneg\n", "auto", 3),
        ("d.csv", 'label,text\npos,good film\nneg,"bad film"\n', "auto", 3),
        ("d.jsonl", '{"text": "good film", "label": "pos"}\n{"text": "bad film", "label": "neg"}\n', "auto", 2),
        ("d.train", "pos good film\nneg bad film\n", "label_first", 2),
    ],
)
def test_each_format_gives_the_same_rows(tmp_path: Path, name: str, content: str, fmt: str, last_line: int) -> None:
    rows = read_records(write(tmp_path / name, content), ["text", "label"], fmt)
    assert [values for _, values in rows] == [["good film", "pos"], ["bad film", "neg"]]
    assert rows[1][0] == f"{tmp_path / name}:{last_line}"


def test_plain_text_lines_and_parallel_files(tmp_path: Path) -> None:
    assert [v for _, v in read_records(write(tmp_path / "a.txt", "one\ntwo\n"), ["text"])] == [["one"], ["two"]]
    write(tmp_path / "train.de", "ein Hund\nzwei Katzen\n")
    write(tmp_path / "train.en", "a dog\ntwo cats\n")
    rows = read_parallel(str(tmp_path / "train.{lang}"), ("de", "en"))
    assert [v for _, v in rows] == [["ein Hund", "a dog"], ["zwei Katzen", "two cats"]]


def test_missing_file_and_unset_data_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"task.train_path: data file not found: .*nope.tsv"):
        check_path(str(tmp_path / "nope.tsv"), "task.train_path")
    with pytest.raises(DataError, match=r"set data_root=<path to shared/data>"):
        check_path("None/sst/stsa.binary.train", "task.train_path")


def test_missing_columns_name_the_file_and_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", "sentence\tlabel\nhi\tpos\n")
    with pytest.raises(DataError, match=r"d.tsv:1: missing column\(s\) \['text'\]; found \['sentence', 'label'\]"):
        read_records(path, ["text", "label"])
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:2: missing column\(s\) \['label'\]"):
        read_records(path, ["text", "label"])


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("d.tsv", "text\tlabel\na\tpos\n\t\nb\tneg\n", 3),
        ("d.jsonl", '{"text": "a", "label": 1}\n\n', 2),
        ("d.train", "1 good\n\n0 bad\n", 2),
        ("d.txt", "one\n   \ntwo\n", 2),
    ],
)
def test_empty_lines_are_errors_naming_the_line(tmp_path: Path, name: str, content: str, line: int) -> None:
    fmt = "label_first" if name.endswith(".train") else "auto"
    columns = ["text"] if name.endswith(".txt") else ["text", "label"]
    with pytest.raises(DataError, match=rf"{name}:{line}: empty line"):
        read_records(write(tmp_path / name, content), columns, fmt)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", b"text\tlabel\ngood\tpos\ncaf\xe9\tneg\n")
    with pytest.raises(DataError, match=r"d.tsv:3: not valid UTF-8"):
        read_records(path, ["text", "label"])


def test_label_first_line_without_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"d.train:2: expected '<label> <sentence>'"):
        read_records(write(tmp_path / "d.train", "1 good film\n0\n"), ["text", "label"], "label_first")


def test_parallel_files_of_different_lengths(tmp_path: Path) -> None:
    write(tmp_path / "t.de", "a\nb\nc\n")
    write(tmp_path / "t.en", "a\nb\n")
    with pytest.raises(DataError, match=r"t.de has 3 lines but .*t.en has 2.*t.de:3"):
        read_parallel(str(tmp_path / "t.{lang}"), ("de", "en"))


def test_unknown_suffix_asks_for_a_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"set task.format"):
        read_records(write(tmp_path / "d.train", "1 a\n"), ["text", "label"])


def test_ratio_split_is_deterministic_and_disjoint() -> None:
    rows = list(range(100))
    train, val = ratio_split(rows, 0.1, seed=3)
    assert len(val) == 10 and sorted(train + val) == rows
    assert ratio_split(rows, 0.1, seed=3) == (train, val) and ratio_split(rows, 0.1, seed=4) != (train, val)


def test_load_splits_by_file_and_by_ratio(tmp_path: Path) -> None:
    path = write(tmp_path / "d.txt", "".join(f"line {i}\n" for i in range(20)))

    def read(p: str, split: str) -> list[str]:
        return [v[0] for _, v in read_records(p, ["text"])]

    by_ratio = load_splits(TextDataConfig(train_path=path, val_ratio=0.25), read, dict)
    assert sorted(by_ratio) == ["train", "val"] and len(by_ratio["val"]) == 5
    by_file = load_splits(TextDataConfig(train_path=path, val_path=path, test_path=path), read, dict)
    assert list(by_file) == ["train", "val", "test"] and by_file["val"] == by_file["train"]


class FakeDataset:
    """The parts of datasets.Dataset the reader uses."""

    def __init__(self, columns: dict[str, list]) -> None:
        self.columns = columns
        self.column_names = list(columns)

    def __getitem__(self, column: str) -> list:
        return self.columns[column]

    def select_columns(self, names: list[str]) -> FakeDataset:
        return FakeDataset({c: self.columns[c] for c in names})

    def iter(self, batch_size: int):  # batches of rows as dicts of column -> values
        n = len(next(iter(self.columns.values())))
        for i in range(0, n, batch_size):
            yield {c: v[i : i + batch_size] for c, v in self.columns.items()}


class FakeDatasetDict(dict):
    """datasets.DatasetDict is a dict of split name -> Dataset."""


def test_hf_saved_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "dataset_dict.json").write_text('{"splits": ["train", "validation"]}')  # save_to_disk writes it
    splits = FakeDatasetDict(
        train=FakeDataset({"sentence": ["good", "bad"], "label": [1, 0]}),
        validation=FakeDataset({"sentence": ["fine"], "label": [1]}),
    )
    fake = types.SimpleNamespace(load_from_disk=lambda path: splits if path == str(saved) else None)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    rows = read_records(str(saved), ["sentence", "label"])  # a directory: the hf_disk format
    assert [v for _, v in rows] == [["good", "1"], ["bad", "0"]]
    assert [v for _, v in read_records(str(saved), ["sentence", "label"], split="val")] == [["fine", "1"]]
    assert [v for _, v in read_records(f"{saved}#train", ["sentence", "label"], split="val")][0] == ["good", "1"]
    with pytest.raises(DataError, match=r"missing column\(s\) \['text'\]"):
        read_records(str(saved), ["text", "label"])


def test_hf_dataset_without_the_package_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    (tmp_path / "state.json").write_text("{}")  # save_to_disk writes it
    with pytest.raises(DataError, match=r"pip install 'plait\[data\]'"):
        read_records(str(tmp_path), ["text", "label"])


def test_quoted_csv_field_keeps_its_newline_and_later_lines_keep_their_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'text,label\n"two\nlines",pos\n"one ""quoted"" line",neg\nshort\n')
    with pytest.raises(DataError, match=r"d.csv:5: expected 2 fields, found 1"):
        read_records(path, ["text", "label"])
    rows = read_records(write(tmp_path / "ok.csv", 'text,label\n"two\r\nlines",pos\nthird,neg\n'), ["text", "label"])
    assert [v for _, v in rows] == [["two\r\nlines", "pos"], ["third", "neg"]]
    assert [where.rsplit(":", 1)[1] for where, _ in rows] == ["2", "4"]


@pytest.mark.parametrize("char", ["\u2028", "\f", "\u2029", "\x85"])
def test_tsv_and_jsonl_fields_with_unicode_line_separators_are_not_split(tmp_path: Path, char: str) -> None:
    tsv = read_records(write(tmp_path / "d.tsv", f"text\tlabel\na{char}b\tpos\nc\tneg\n"), ["text", "label"])
    assert [v for _, v in tsv] == [[f"a{char}b", "pos"], ["c", "neg"]]
    assert tsv[1][0].endswith("d.tsv:3")
    if char != "\f":  # JSON allows these raw inside strings (a form feed must be escaped)
        jsonl = read_records(write(tmp_path / "d.jsonl", f'{{"text": "a{char}b", "label": 1}}\n'), ["text", "label"])
        assert [v for _, v in jsonl] == [[f"a{char}b", "1"]]


def test_a_split_of_several_files_by_glob_or_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "b.tsv", "text\tlabel\nbad film\tneg\n")
    write(tmp_path / "d" / "a.tsv", "\ufefftext\tlabel\ngood film\tpos\n")  # a spreadsheet's byte-order mark
    for spec in (tmp_path / "d", tmp_path / "d" / "*.tsv"):
        check_path(str(spec), "task.train_path")
        assert [v for _, v in read_records(str(spec), ["text", "label"])] == [["good film", "pos"], ["bad film", "neg"]]
    with pytest.raises(DataError, match=r"task.train_path: .*\*.csv: the pattern matches no file"):
        check_path(str(tmp_path / "d" / "*.csv"), "task.train_path")
