"""Stop signals become a flag, a second Ctrl-C stops at once, exit codes are documented and distinct."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from framework.engine.preemption import PREEMPTED_EXIT_CODES, Preempted, PreemptionHandler, agree

ROOT = Path(__file__).resolve().parents[2]

# A stand-in training loop: steps until asked to stop, then "checkpoints" and exits like the CLI does.
LOOP = """
import sys, time
from pathlib import Path
from framework.engine.preemption import PreemptionHandler, Preempted
out = Path(sys.argv[1])
try:
    with PreemptionHandler() as stop:
        step = 0
        while step < 100000:
            step += 1
            time.sleep(0.01)
            if step == 3:
                print("running", flush=True)
            if stop.requested:
                (out / "checkpoint").write_text(str(step))
                raise Preempted(stop.requested, step, out / "checkpoint")
            if (out / "slow_stop").exists() and step > 3:
                time.sleep(0.05)
except Preempted as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _run_loop(tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LOOP), str(tmp_path)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().strip() == "running"
    return proc


def test_exit_codes_are_documented_and_distinct() -> None:
    assert PREEMPTED_EXIT_CODES == {"SIGTERM": 143, "SIGINT": 130, "SIGUSR1": 138}
    assert len(set(PREEMPTED_EXIT_CODES.values())) == 3 and not {0, 1, 2} & set(PREEMPTED_EXIT_CODES.values())
    exc = Preempted("SIGTERM", 70, "/r/checkpoints/step_0000070")
    assert exc.exit_code == 143
    assert "\n" not in str(exc) and "step 70" in str(exc) and "trainer.resume=auto" in str(exc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_signal_sets_flag_and_handlers_are_restored(sig: signal.Signals) -> None:
    def before(signum, frame):  # a handler someone installed earlier
        raise AssertionError("the previous handler must not run while the handler is installed")

    old = signal.signal(sig, before)
    try:
        with PreemptionHandler() as stop:
            assert stop.active and stop.requested is None
            os.kill(os.getpid(), sig)
            assert stop.requested == sig.name
            os.kill(os.getpid(), signal.SIGTERM)  # later signals keep the first name
            assert stop.requested == sig.name
        assert signal.getsignal(sig) is before
    finally:
        signal.signal(sig, old)


def test_second_ctrl_c_interrupts_at_once() -> None:
    previous = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under a shell's background job
    with PreemptionHandler() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_outside_main_thread_it_does_nothing() -> None:
    seen = {}

    def body() -> None:
        with PreemptionHandler() as stop:
            seen["active"] = stop.active
            seen["handler"] = signal.getsignal(signal.SIGTERM)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == {"active": False, "handler": signal.getsignal(signal.SIGTERM)}


def test_sigterm_to_a_subprocess_stops_at_a_step_boundary(tmp_path: Path) -> None:
    proc = _run_loop(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert int((tmp_path / "checkpoint").read_text()) >= 3
    assert (
        len(err.strip().splitlines()) == 2 and "SIGTERM received" in err and "stopped on SIGTERM" in err
    )  # no traceback


def test_double_ctrl_c_to_a_subprocess_exits_at_once(tmp_path: Path) -> None:
    (tmp_path / "slow_stop").touch()
    proc = _run_loop(tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err


def test_agree_without_distributed_returns_the_flag() -> None:
    assert agree(True) is True and agree(False) is False


AGREE = """
import sys, torch.distributed as dist
from framework.engine.preemption import agree, agree_all
rank = int(sys.argv[2])
dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=rank, world_size=2)
print(agree(rank == 1), agree(False), *agree_all([False, rank == 0, rank == 1]), flush=True)
dist.destroy_process_group()
"""


def test_agree_all_reduces_across_ranks(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    store = str(tmp_path / "store")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(AGREE), store, str(rank)], env=env, text=True, stdout=subprocess.PIPE
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    # rank 0 stops too because rank 1 was signalled; several flags (a signal, a stop request, the time limit) at once
    assert outputs == ["True False False True True", "True False False True True"]
