"""The text table: records as read, memory-mapped, read back in batches in file order or any row order; written
atomically, once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from framework import TextTable, TextTableWriter, prepare_table
from framework.errors import DataError

ROWS = [["héllo wörld", "two\nlines", "pos"], ["", "b", "neg"], ["x", "", "pos"], ["😀 emoji", "c", "neutral"]]


def table(path: Path, rows: list[list[str]] = ROWS) -> TextTable:
    return prepare_table(path, iter(rows), ["a", "b"], ["label"], describes="t")


def test_columns_round_trip_with_codes_in_first_seen_order(tmp_path: Path) -> None:
    t = table(tmp_path / "t")
    assert len(t) == 4 and [t.text("a")[i] for i in range(4)] == [r[0] for r in ROWS]
    assert [t.text("b")[i] for i in range(4)] == [r[1] for r in ROWS]
    assert t.values("label") == ["pos", "neg", "neutral"] and t.codes("label").tolist() == [0, 1, 0, 2]
    assert isinstance(t.codes("label"), np.memmap) and t.meta.describes == "t"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.lock", "t"]  # no temporary directory left


def test_batches_in_file_order_and_in_any_row_order(tmp_path: Path) -> None:
    column = table(tmp_path / "t").text("a")
    assert list(column.batches(size=3)) == [[r[0] for r in ROWS[:3]], [ROWS[3][0]]]
    order = np.array([3, 1, 1, 0])
    assert [v for batch in column.batches(order, size=2) for v in batch] == [ROWS[i][0] for i in order]
    assert list(column.batches(np.array([], dtype=np.int64))) == []


def test_a_complete_table_is_opened_without_reading_the_rows(tmp_path: Path) -> None:
    table(tmp_path / "t")

    def unread() -> list[list[str]]:
        raise AssertionError("the rows were read again")

    again = prepare_table(tmp_path / "t", iter(unread, None), ["a", "b"], ["label"])
    assert again.text("b")[0] == "two\nlines"


def test_an_empty_table_opens(tmp_path: Path) -> None:
    t = prepare_table(tmp_path / "t", iter([]), ["a"])
    assert len(t) == 0 and list(t.text("a").batches()) == []


def test_a_nul_character_or_an_error_while_writing_publishes_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="column 'a' holds a NUL"):
        table(tmp_path / "t", [["a\0b", "x", "pos"]])
    with pytest.raises(KeyboardInterrupt), TextTableWriter(tmp_path / "t", ["a"]) as writer:
        writer.append([["one"]])
        raise KeyboardInterrupt  # Ctrl-C in the middle of reading the files
    assert [p.name for p in tmp_path.iterdir()] == [".t.lock"]  # the lock file stays, as for token stores


def test_a_token_store_is_not_taken_for_a_table(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "meta.json").write_text(json.dumps({"format": 1, "n_sequences": 0}))
    with pytest.raises(DataError, match="not a text table"):
        TextTable(tmp_path / "t")
