"""Streaming readers give the records a whole-file parse gives, for every format, with and without compression,
whatever the chunk size; a multi-file split reads its files in sorted order."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from framework.data.decoding import open_bytes
from framework.data.lines import text_blocks
from framework.data.readers import documents, read_parallel_rows, read_rows
from framework.data.records import Row, batched
from framework.data.text_files import read_utf8
from framework.errors import DataError

Write = Callable[..., Path]  # the `write` fixture (conftest.py)
COMPRESSIONS = ["", ".gz", ".bz2", ".xz"]
CHUNKS = [1, 3, 7, 64, 1 << 20]
LONG = "w" * 300  # longer than the small chunks

# Two files per format, each with what breaks naive readers: a BOM, CRLF, multi-byte characters cut by chunks,
# long lines, a last line without a line feed, Unicode line separators where the format allows them.
FILES = {
    "text": (
        "\ufeffFirst line é\r\nsecond 日本語 line\n" + LONG + "\nlast 😀 no newline",
        "café\u2028next\rCR line\nthird\n",
    ),
    "label_first": ("pos good film é\r\nneg bad 😀 film\n", f"pos ok\r\nneg {LONG}\nneg last"),
    "jsonl": (
        '\ufeff{"text": "a\u2028b é", "label": "pos"}\r\n{"text": "😀", "label": 1}\n',
        json.dumps({"label": "neg", "text": LONG, "extra": [1]}, ensure_ascii=False)
        + '\n{"text": "x\\ny", "label": 0}',
    ),
    "tsv": (
        '\ufefftext\tlabel\r\nhello é\tpos\n"quoted\ttab ""and"" quotes"\tneg\n',
        f'label\ttext\npos\t"two\r\nlines 日本"\nneg\t{LONG}\n',
    ),
    "csv": ('label,text\npos,"two\r\nlines ""q"" é"\nneg,plain 😀\r\n', f'text,label\n{LONG},pos\n"a\u2028b, c",neg'),
}
SUFFIX = {"text": ".txt", "label_first": ".lf", "jsonl": ".jsonl", "tsv": ".tsv", "csv": ".csv"}


def whole_text(path: Path) -> str:
    with open_bytes(path) as f:
        return f.read().decode("utf-8-sig")


def whole_file_rows(path: Path, fmt: str) -> list[Row]:
    """The records of one file parsed from its whole text at once: what the streaming readers must match."""
    text, name = whole_text(path), str(path)
    if fmt == "text":
        return [(f"{name}:{i}", [line]) for i, line in enumerate(text.splitlines(), 1)]
    if fmt == "label_first":
        pairs = [line.split(" ", 1) for line in text.splitlines()]
        return [(f"{name}:{i}", [t, lab]) for i, (lab, t) in enumerate(pairs, 1)]
    if fmt == "jsonl":
        objs = [json.loads(line) for line in text.removesuffix("\n").split("\n")]
        return [(f"{name}:{i}", [str(o["text"]), str(o["label"])]) for i, o in enumerate(objs, 1)]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
    header = next(reader)
    rows, start = [], 2
    for record in reader:
        rows.append((f"{name}:{start}", [record[header.index("text")], record[header.index("label")]]))
        start = reader.line_num + 1
    return rows


def columns(fmt: str) -> list[str]:
    return ["text"] if fmt == "text" else ["text", "label"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("fmt", sorted(FILES))
def test_streaming_gives_the_whole_file_records(tmp_path: Path, write: Write, fmt: str, compression: str) -> None:
    paths = [
        write(f"split/part{i}{SUFFIX[fmt]}", content, compression)
        for i, content in reversed(list(enumerate(FILES[fmt])))
    ]
    expected = [row for p in sorted(paths) for row in whole_file_rows(p, fmt)]
    assert len(expected) >= 4
    explicit = "label_first" if fmt == "label_first" else "auto"  # .lf is no known suffix
    for spec in (tmp_path / "split", tmp_path / "split" / f"*{SUFFIX[fmt]}*"):
        for chunk in CHUNKS:
            rows = read_rows(str(spec), columns(fmt), explicit, chunk_bytes=chunk)
            assert isinstance(rows, Iterator)  # a stream, not a list
            assert list(rows) == expected, (spec, chunk)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_parallel_files_streamed_in_pairs(tmp_path: Path, write: Write, compression: str) -> None:
    sides = {"de": ["ein Hund\r\nzwei Katzen\n", f"drei 😀\n{LONG}"], "en": ["a dog\ntwo cats\r\n", f"three\n{LONG}\n"]}
    for lang, texts in sides.items():
        for i, text in enumerate(texts):
            write(f"p/{i}.{lang}", text, compression)
    expected = [
        (f"{tmp_path}/p/{i}.de{compression}:{n}", [s, t])
        for i in range(2)
        for n, (s, t) in enumerate(zip(sides["de"][i].splitlines(), sides["en"][i].splitlines(), strict=True), 1)
    ]
    for chunk in CHUNKS:
        assert (
            list(read_parallel_rows(f"{tmp_path}/p/*.{{lang}}{compression}", ("de", "en"), chunk_bytes=chunk))
            == expected
        )


def test_parallel_files_out_of_step(tmp_path: Path, write: Write) -> None:
    write("t.de", "a\nb\nc\nd\n")
    write("t.en", "a\nb\n")
    with pytest.raises(DataError, match=r"t.de has 4 lines but .*t.en has 2; .*first extra line: .*t.de:3\)"):
        list(read_parallel_rows(str(tmp_path / "t.{lang}"), ("de", "en")))
    write("more/a.de", "x\n")
    write("more/b.de", "y\n")
    write("more/a.en", "x\n")
    with pytest.raises(DataError, match=r"2 de file\(s\) but 1 en file\(s\); line-aligned files come in pairs"):
        list(read_parallel_rows(str(tmp_path / "more" / "*.{lang}"), ("de", "en")))


def test_an_error_in_a_later_file_comes_after_the_rows_before_it(tmp_path: Path, write: Write) -> None:
    write("s/a.jsonl", '{"text": "fine", "label": 1}\n')
    write("s/b.jsonl", '{"text": "fine", "label": 1}\nnot json\n', ".gz")
    rows = read_rows(str(tmp_path / "s"), ["text", "label"])
    assert next(rows) == (f"{tmp_path}/s/a.jsonl:1", ["fine", "1"])
    assert next(rows)[0] == f"{tmp_path}/s/b.jsonl.gz:1"
    with pytest.raises(DataError, match=r"s/b.jsonl.gz:2: invalid JSON"):
        next(rows)


@pytest.mark.parametrize(
    ("name", "compression", "content", "wanted", "message"),
    [
        (
            "d.tsv",
            "",
            "sentence\tlabel\nhi\tpos\n",
            ["text"],
            r"d.tsv:1: missing column\(s\) \['text'\]; found \['sentence'",
        ),
        ("d.csv", ".gz", "text\n", ["text"], r"d.csv.gz: no examples found"),
        ("d.jsonl", ".bz2", '{"text": "a"}\n', ["text", "label"], r"d.jsonl.bz2:1: missing column\(s\) \['label'\]"),
        ("d.txt", "", "a\n", ["text", "label"], r"d.txt: missing column\(s\) \['label'\]; found \['text'\]"),
        ("d.txt", ".xz", "", ["text"], r"d.txt.xz: the file is empty"),
    ],
)
def test_missing_columns_and_empty_files(
    write: Write, name: str, compression: str, content: str, wanted, message
) -> None:
    with pytest.raises(DataError, match=message):
        list(read_rows(str(write(name, content, compression)), wanted))


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_documents_read_in_blocks_of_whole_lines(tmp_path: Path, write: Write, compression: str) -> None:
    text = "".join(f"line {i} é 日本 😀\r\n" for i in range(500)) + "no end"
    write("docs/b.txt", text, compression)
    write("docs/a.txt", "first document\n", compression)
    files = documents(str(tmp_path / "docs"))
    assert [p.name for p in files] == [f"a.txt{compression}", f"b.txt{compression}"]
    for chunk in (1, 100, 1 << 20):
        blocks = list(text_blocks(files[1], chunk))
        assert "".join(blocks) == text == read_utf8(files[1])
        assert all(b.endswith("\n") for b in blocks[:-1]) and (chunk > len(text) or len(blocks) > 10)
    with pytest.raises(DataError, match=r"documents are plain-text files; this split is tsv"):
        documents(str(write("d.tsv", "text\n")))


def test_batched() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_hf_disk_without_datasets_names_the_extra(
    tmp_path: Path, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    write("saved/dataset_dict.json", "{}")
    with pytest.raises(
        DataError, match=r"saved is a dataset saved with Hugging Face `datasets`.*pip install 'plait\[data\]'"
    ):
        list(read_rows(str(tmp_path / "saved"), ["text"]))


def test_hf_disk_streams_a_saved_dataset_in_batches(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    train = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(7)], "label": list(range(7)), "x": [0] * 7})
    train.save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict(train=train, validation=train.select([1, 2])).save_to_disk(str(tmp_path / "two"))
    expected = [(f"{tmp_path / 'one'} row {i + 1}", [f"t{i}", str(i)]) for i in range(7)]
    assert list(read_rows(str(tmp_path / "one"), ["text", "label"])) == expected
    from framework.data.hf_disk import hf_rows

    assert list(hf_rows(str(tmp_path / "one"), ["text", "label"], "train", batch_rows=2)) == expected
    assert [v for _, v in read_rows(str(tmp_path / "two"), ["label"], split="val")] == [["1"], ["2"]]
    assert [v for _, v in read_rows(f"{tmp_path / 'two'}#train", ["label"], split="val")][-1] == ["6"]
    with pytest.raises(DataError, match=r"missing column\(s\) \['sentence'\]; found \['text', 'label', 'x'\]"):
        list(read_rows(str(tmp_path / "one"), ["sentence"]))
    datasets.Dataset.from_dict({"text": ["a", None]}).save_to_disk(str(tmp_path / "gap"))
    with pytest.raises(DataError, match=r"gap row 2: empty value in \['text'\]; drop the row"):
        list(read_rows(str(tmp_path / "gap"), ["text"]))
