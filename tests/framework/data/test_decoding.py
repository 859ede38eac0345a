"""Bad bytes in text files, each an error naming the file and the line and the fix; compression and a byte-order
mark handled on the way, whatever the chunk size."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from framework.data.decoding import text_chunks
from framework.data.readers import read_rows
from framework.data.text_files import read_lines, read_utf8
from framework.errors import DataError

Write = Callable[..., Path]  # the `write` fixture (conftest.py)
COMPRESSIONS = ["", ".gz", ".bz2", ".xz"]
BIG = "".join(f"line {i} with some text é 日本\n" for i in range(1, 80_001))  # ~2.7 MB: several chunks


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_invalid_utf8_deep_in_a_large_file_names_its_line(write: Write, compression: str) -> None:
    raw = BIG.encode()
    cut = raw.index(b"line 70000 ")
    path = write("big.txt", raw[:cut] + b"caf\xe9 au lait\n" + raw[cut:], compression)
    with pytest.raises(DataError, match=rf"big.txt{compression}:70000: not valid UTF-8 \(byte {cut + 3}\); re-encode"):
        list(read_rows(str(path), ["text"]))


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 4096])
def test_characters_and_the_bom_cut_by_chunks_decode_whole(write: Write, chunk_bytes: int) -> None:
    text = "😀é日\r\nzwei\n" * 5
    path = write("a.txt", "\ufeff" + text)
    assert "".join(text_chunks(path, chunk_bytes)) == text
    bad = write("b.txt", b"ok\nstill ok\n" + "😀".encode()[:3])  # a character cut off by the end
    with pytest.raises(DataError, match=r"b.txt:3: not valid UTF-8 \(byte 12\)"):
        list(text_chunks(bad, chunk_bytes))


def test_a_binary_file_is_named_as_one(write: Write) -> None:
    path = write("model.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(
        DataError,
        match=r"model.txt:3: a NUL byte \(byte 8\); this is not a UTF-8 text file: it looks like a binary file",
    ):
        read_lines(path)
    zipped = write("zipped.txt", gzip.compress(b"text\tlabel\nhi\tpos\n"))
    with pytest.raises(DataError, match=r"zipped.txt:1: .*gzip-compressed data; name it \*.gz"):
        read_utf8(zipped)
    utf16 = write("excel.tsv", "text\tlabel\nhi\tpos\n".encode("utf-16"))
    with pytest.raises(
        DataError,
        match=r"excel.tsv:1: not valid UTF-8 \(byte 0\); this is not a UTF-8 text file: it is UTF-16 text .*save it as UTF-8",
    ):
        list(read_rows(str(utf16), ["text", "label"]))


@pytest.mark.parametrize("compression", ["", ".gz"])
def test_nul_bytes_in_text_name_the_line(write: Write, compression: str) -> None:
    path = write("d.tsv", "text\tlabel\n" + "good film\tpos\n" * 2000 + "bad\x00film\tneg\n", compression)
    with pytest.raises(DataError, match=rf"d.tsv{compression}:2002: a NUL byte .* in the text; remove the NUL bytes"):
        list(read_rows(str(path), ["text", "label"]))


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz"])
def test_a_truncated_compressed_file_says_so(write: Write, compression: str) -> None:
    whole = write("whole.txt", BIG, compression).read_bytes()
    path = write("cut.txt", b"", compression)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=rf"cut.txt{compression}: the \w+ data is truncated or corrupt at line \d+"):
        list(read_rows(str(path), ["text"]))


def test_a_plain_file_named_gz_is_corrupt_gzip(write: Write) -> None:
    path = write("plain.txt.gz", "just text\n")
    with pytest.raises(
        DataError, match=r"plain.txt.gz: the gzip data is truncated or corrupt at line 1 \(Not a gzipped"
    ):
        read_lines(path)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_a_spreadsheet_bom_is_not_part_of_the_header(write: Write, compression: str) -> None:
    path = write("sheet.tsv", "\ufefftext\tlabel\r\ngood\tpos\r\n", compression)
    assert list(read_rows(str(path), ["text", "label"])) == [(f"{path}:2", ["good", "pos"])]
    assert read_utf8(write("b.txt", "\ufeffone\n\ufefftwo\n", compression)) == "one\n\ufefftwo\n"  # only the first


def test_whole_file_wrappers_read_compressed_files(write: Write) -> None:
    assert read_utf8(write("a.txt", "one\ntwo\n", ".xz")) == "one\ntwo\n"
    assert read_lines(write("b.txt", "one\r\ntwo", ".bz2")) == ["one", "two"]
    with pytest.raises(DataError, match=r"data file not found"):
        read_utf8(Path("/nonexistent/file.txt"))
