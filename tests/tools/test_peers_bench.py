"""tools/bench/peers.py runs end to end without the bench extra: each run in its own process, the same fp32
losses from the hand-written loop, Plait and the allocator control, freed memory kept in Plait's and the control's
processes only (its speed is read from docs, never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "tools/bench"


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch):
    """The bench imported by name, as its spawned processes import it (tools/bench on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import peers as module

    yield module
    for name in ("peers", "overhead"):
        sys.modules.pop(name, None)


def test_peers_bench_trains_each_contestant_in_its_own_process(
    peers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [peers.HAND_WRITTEN, "Plait (defaults)", "control: hand-written + Plait's allocator"]
    monkeypatch.setitem(peers.STEPS, "tiny", peers.WARM + 3)  # sent to each run's process with its arguments
    peers.main(["--rounds", "1", "--sizes", "tiny", "--precisions", "fp32", "--contestants", ",".join(names)])
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()]
    rows = [r for r in rows if r[0] == "tiny"]
    assert [r[2] for r in rows] == names
    assert len({r[-2] for r in rows}) == 1  # fp32: the same final loss, to the printed digits
    assert all(float(r[3]) > 0 for r in rows)
    assert [r[-1] for r in rows] == ["no", "yes", "yes"]  # only Plait's process and the control keep freed memory


def test_peers_bench_refuses_unknown_contestants(peers) -> None:
    with pytest.raises(SystemExit):
        peers.main(["--contestants", "Plait (defaults)"])  # the baseline must come first
    with pytest.raises(SystemExit):
        peers.main(["--contestants", f"{peers.HAND_WRITTEN},Keras"])
