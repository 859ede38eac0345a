"""Progress of long preparations: plain throttled lines in logs, a bar on a terminal, a summary either way."""

from __future__ import annotations

import io

from framework import Progress


def test_plain_lines_are_throttled_and_a_summary_closes() -> None:
    out = io.StringIO()  # not a terminal: plain lines
    with Progress("tokenizing train", interval_s=3600, stream=out, total_bytes=4_000_000) as progress:
        progress.update(10, 1_000_000)
        progress.update(10, 1_000_000)
        assert out.getvalue() == ""  # nothing due yet
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tokenizing train: 20 records, 2.0 of 4.0 MB (50%), ")
    assert "MB/s" in lines[0]


def test_every_update_prints_when_due_and_track_counts_utf8_bytes() -> None:
    out = io.StringIO()
    progress = Progress("reading", interval_s=0, stream=out)
    batches = list(progress.track([["é", "ab"], ["c"]]))
    assert batches == [["é", "ab"], ["c"]]
    assert (progress.records, progress.bytes) == (3, 5)
    assert len(out.getvalue().splitlines()) == 2


def test_a_bar_and_a_silent_reporter() -> None:
    out = io.StringIO()
    with Progress("tokenizing", stream=out, bar=True, total_bytes=10) as progress:
        progress.update(1, 5)
    assert "tokenizing: 1 records" in out.getvalue()  # the summary line stays after the bar
    silent = io.StringIO()
    with Progress("rank 1", stream=silent, enabled=False, interval_s=0) as progress:
        progress.update(1, 5)
    assert silent.getvalue() == "" and progress.records == 1
