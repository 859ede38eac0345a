"""Thread policy: the CPUs in this process's affinity, shared among ranks and parallel trials, or the user's number."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework import threads
from framework.registry import PlaitError
from framework.threads import ThreadPlan, plan_threads, prepare_environment


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 4)


def test_auto_uses_every_cpu_in_affinity(four_cpus: None) -> None:
    assert plan_threads("auto", {}) == ThreadPlan(4, 4, "4 CPUs in affinity -> 4 threads")


def test_auto_divides_among_local_ranks_and_parallel_trials(four_cpus: None) -> None:
    plan = plan_threads("auto", {"LOCAL_WORLD_SIZE": "2", threads.CONCURRENT_TRIALS_ENV: "2"})
    assert plan == ThreadPlan(1, 1, "4 CPUs in affinity / (2 local ranks, 2 parallel trials) -> 1 thread")
    assert plan_threads("auto", {"LOCAL_WORLD_SIZE": "8"}).n == 1  # never below one


def test_user_settings_win(four_cpus: None) -> None:
    assert plan_threads("3", {"OMP_NUM_THREADS": "1"}) == ThreadPlan(3, 3, "trainer.num_threads=3")
    assert plan_threads(2, {}).n == 2
    assert plan_threads("auto", {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}).reason == "OMP_NUM_THREADS=1"


@pytest.mark.parametrize("bad", ["0", "many"])
def test_bad_setting_names_the_fix(bad: str) -> None:
    with pytest.raises(PlaitError, match="positive integer or auto"):
        plan_threads(bad, {})


def test_affinity_is_the_real_mask() -> None:
    import os

    assert threads.affinity_cpus() == len(os.sched_getaffinity(0))


def test_prepare_environment_keeps_user_values() -> None:
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    prepare_environment(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    env = {}
    prepare_environment(env)
    assert env == threads.EARLY_ENV


def test_apply_sets_torch_threads_and_interop_once() -> None:
    code = (
        "from framework.threads import ThreadPlan, apply_threads; import torch\n"
        "apply_threads(ThreadPlan(1, 1, 'x')); apply_threads(ThreadPlan(2, 2, 'y'))\n"
        "print(torch.get_num_threads(), torch.get_num_interop_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "1"]  # intra-op follows the latest plan; inter-op was set once
