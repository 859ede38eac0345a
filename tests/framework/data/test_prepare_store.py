"""Preparing a store across processes: one fills while the others wait; a killed preparation leaves no store
at the final name, and the next run removes its leftovers and prepares the entry again."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import pytest
from data_fixtures import python

from framework import TokenStore, TokenStoreWriter, prepare_store

# A process that prepares ENTRY: batches of ids, each fill logged; waits for GO first when one is given;
# HANG=1: stops after a few batches (touching "started") until it is killed.
PREPARER = """
import os, signal, sys, time, hashlib
signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with Ctrl-C ignored
from pathlib import Path
from framework import prepare_store
entry, log, go, pause, hang = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
def fill(writer):
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    for i in range(20):
        writer.append([[i, i + 1, i + 2]] * 100)
        if i == 3:
            (log.parent / "started").touch()
            time.sleep(120 if hang == "1" else 0)
        time.sleep(pause)
Path(log.parent / f"ready-{os.getpid()}").touch()
while go != "-" and not Path(go).exists():
    time.sleep(0.01)
store = prepare_store(entry, fill, vocab_size=50, describes="test")
data = hashlib.sha256(store.flat.tobytes() + store.offsets.tobytes()).hexdigest()
print(data, len(store), store.n_tokens)
"""


def fill_all(writer: TokenStoreWriter) -> None:
    for i in range(20):
        writer.append([[i, i + 1, i + 2]] * 100)


def digest(store: TokenStore) -> str:
    return hashlib.sha256(store.flat.tobytes() + store.offsets.tobytes()).hexdigest()


def test_a_hit_opens_without_filling(tmp_path: Path) -> None:
    first = prepare_store(tmp_path / "e", fill_all, vocab_size=50)
    again = prepare_store(tmp_path / "e", lambda w: pytest.fail("a complete store is filled again"), vocab_size=50)
    assert digest(again) == digest(first) and len(again) == 2000


def test_two_processes_prepare_one_entry_once(tmp_path: Path) -> None:
    entry, log, go = tmp_path / "cache" / "e", tmp_path / "fills.log", tmp_path / "go"
    procs = [python(PREPARER, str(entry), str(log), str(go), "0.05", "0") for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start preparing at the same moment
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    assert len(log.read_text().split()) == 1  # the tokenization ran once
    assert outputs[0][0] == outputs[1][0]  # both opened the same store
    assert outputs[0][0].split()[1:] == ["2000", "6000"]
    assert digest(TokenStore(entry)) == outputs[0][0].split()[0]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_preparation_leaves_no_store_and_the_next_run_completes_it(tmp_path: Path, sig: int) -> None:
    entry, log = tmp_path / "cache" / "e", tmp_path / "fills.log"
    proc = python(PREPARER, str(entry), str(log), "-", "0", "1")
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert (tmp_path / "started").exists(), proc.communicate()
    proc.send_signal(sig)  # kill -9, or Ctrl-C, in the middle of writing
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert not entry.exists()  # the final name never holds a partial store
    leftovers = list(entry.parent.glob(".e.tmp-*"))
    assert len(leftovers) == (1 if sig == signal.SIGKILL else 0)  # Ctrl-C cleans up; kill -9 cannot

    store = prepare_store(entry, fill_all, vocab_size=50)  # the next run
    assert len(store) == 2000 and [int(t) for t in store[1999]] == [19, 20, 21]
    assert not list(entry.parent.glob(".e.tmp-*"))  # the killed writer's leftovers are gone
