"""Streaming costs the same memory for any file size: reading a ~50 MB split grows peak resident memory by a small,
fixed amount, while reading it whole grows it by more than the file (so the measurement can tell them apart)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FILE_MB = 50
STREAM_LIMIT_MB = 20
MEASURE = """
import re, sys
from pathlib import Path

def peak() -> int:  # peak resident memory so far, in bytes (VmHWM)
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024

from framework.data.lines import text_blocks
from framework.data.readers import read_rows
from framework.data.text_files import read_utf8

path, base = sys.argv[1], peak()
rows = sum(1 for _ in read_rows(path, ["text", "label"]))
blocks = sum(len(block) for block in text_blocks(Path(path)))
streamed = peak() - base
whole = len(read_utf8(Path(path)))
print(rows, blocks, whole, streamed, peak() - base - streamed)
"""


def write_corpus(path: Path, size: int) -> int:
    """A TSV of about `size` bytes written in pieces; returns its rows."""
    line = "a sentence of plain words with a few accents é ü and a number {}\t{}\n"
    rows = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        while f.tell() < size:
            f.write("".join(line.format(rows + i, ("pos", "neg")[i % 2]) for i in range(10_000)))
            rows += 10_000
    return rows


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_streaming_a_large_split_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.tsv"
    rows = write_corpus(path, FILE_MB << 20)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], env=env, capture_output=True, text=True, check=True
    )
    counted, chars, whole, streamed, whole_growth = map(int, out.stdout.split())
    assert counted == rows and chars == whole
    assert streamed < STREAM_LIMIT_MB << 20, f"streaming grew peak memory by {streamed >> 20} MB"
    assert whole_growth > FILE_MB << 20  # the whole-file read does show up: the measurement is real
