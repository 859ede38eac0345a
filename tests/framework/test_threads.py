"""Thread policy: the CPUs in this process's affinity, shared among ranks and parallel trials, or the user's number;
the governor that steps down while other processes keep the CPUs busy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework.engine import threads
from framework.engine.threads import CpuTimes, ThreadGovernor, ThreadPlan, governor_for, plan_threads, read_cpu_times
from framework.errors import PlaitError


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 4)


def test_auto_uses_every_cpu_in_affinity(four_cpus: None) -> None:
    assert plan_threads("auto", {}) == ThreadPlan(4, 4, "4 CPUs in affinity -> 4 threads", adaptive=True)


def test_auto_divides_among_local_ranks_and_parallel_trials(four_cpus: None) -> None:
    plan = plan_threads("auto", {"LOCAL_WORLD_SIZE": "2", threads.CONCURRENT_TRIALS_ENV: "2"})
    assert plan == ThreadPlan(1, 1, "4 CPUs in affinity / (2 local ranks, 2 parallel trials) -> 1 thread")
    assert plan_threads("auto", {"LOCAL_WORLD_SIZE": "2"}) == ThreadPlan(
        2, 2, "4 CPUs in affinity / (2 local ranks) -> 2 threads", adaptive=True
    )
    assert plan_threads("auto", {"LOCAL_WORLD_SIZE": "8"}).n == 1  # never below one


def test_user_settings_win(four_cpus: None) -> None:
    assert plan_threads("3", {"OMP_NUM_THREADS": "1"}) == ThreadPlan(3, 3, "trainer.num_threads=3")
    assert plan_threads(2, {}).n == 2
    assert plan_threads("auto", {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}).reason == "OMP_NUM_THREADS=1"


def test_more_threads_than_cpus_are_lowered_with_a_warning(four_cpus: None) -> None:
    plan = plan_threads("999", {})
    assert (plan.n, plan.interop, plan.adaptive) == (4, 4, False)
    assert plan.reason == "trainer.num_threads=999 lowered to the 4 usable CPUs"
    assert plan.warning == (
        "trainer.num_threads=999 is more than the 4 CPU(s) this process may use; using 4 "
        "(more threads than cores only wait for each other)"
    )
    assert plan_threads("4", {}).warning is None


@pytest.mark.parametrize("bad", ["0", "many"])
def test_bad_setting_names_the_fix(bad: str) -> None:
    with pytest.raises(PlaitError, match="positive integer or auto"):
        plan_threads(bad, {})


def test_affinity_is_the_real_mask() -> None:
    import os

    assert threads.affinity_cpus() == len(os.sched_getaffinity(0))


def test_apply_sets_torch_threads_and_interop_once() -> None:
    code = (
        "from framework.engine.threads import ThreadPlan, apply_threads; import torch\n"
        "apply_threads(ThreadPlan(1, 1, 'x')); apply_threads(ThreadPlan(2, 2, 'y'))\n"
        "print(torch.get_num_threads(), torch.get_num_interop_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "1"]  # intra-op follows the latest plan; inter-op was set once


class FakeCpu:
    """/proc/stat and the process clock as a script: each reading adds `others` busy cores for one second."""

    def __init__(self) -> None:
        self.wall = self.busy = self.own = 0.0
        self.set_to: list[int] = []

    def advance(self, others: float, own: float = 1.0) -> None:
        self.wall += 1.0
        self.busy += others + own
        self.own += own

    def read(self) -> CpuTimes:
        return CpuTimes(self.wall, self.busy, self.own)


def governor(cpu: FakeCpu, n: int = 4, patience: int = 2) -> ThreadGovernor:
    plan = ThreadPlan(n, n, "test", adaptive=True)
    gov = ThreadGovernor(
        plan, cpus=frozenset(range(n)), interval_s=0.0, patience=patience, read=cpu.read, set_threads=cpu.set_to.append
    )
    return gov


def test_governor_keeps_every_thread_when_alone() -> None:
    cpu = FakeCpu()
    gov = governor(cpu)
    for _ in range(5):
        cpu.advance(others=0.3)  # an editor, a shell: less than half a core
        assert gov.tick() is None
    assert gov.threads == 4 and cpu.set_to == []


def test_governor_steps_down_at_once_and_up_only_after_patience() -> None:
    cpu = FakeCpu()
    gov = governor(cpu)
    cpu.advance(others=2.2)  # a neighbour takes two of the four CPUs
    change = gov.tick()
    assert gov.threads == 2 and cpu.set_to == [2]
    assert change is not None and "4 -> 2" in change and "2.2 of 4 CPUs" in change
    cpu.advance(others=0.0)  # it finished: one quiet interval is not enough
    assert gov.tick() is None and gov.threads == 2
    cpu.advance(others=0.0)
    assert gov.tick() is not None and gov.threads == 4 and cpu.set_to == [2, 4]


def test_governor_never_goes_below_one_or_above_the_plan() -> None:
    cpu = FakeCpu()
    gov = governor(cpu, n=2, patience=1)
    cpu.advance(others=7.0)  # more busy cores than there are: overcounted steal, a crowded host
    gov.tick()
    assert gov.threads == 1
    cpu.advance(others=-3.0)  # a clock oddity: still at most the plan
    gov.tick()
    assert gov.threads == 2 and cpu.set_to == [1, 2]


def test_a_busy_neighbour_interrupting_the_comeback_resets_patience() -> None:
    cpu = FakeCpu()
    gov = governor(cpu, n=2, patience=2)
    for others in (1.0, 0.0, 1.0, 0.0):  # two one-thread jobs on two cores: never two quiet intervals in a row
        cpu.advance(others)
        gov.tick()
    assert gov.threads == 1 and cpu.set_to == [1]


def test_governor_only_for_plans_nobody_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 2)
    assert governor_for(plan_threads("auto", {"OMP_NUM_THREADS": "2"})) is None
    assert governor_for(plan_threads(2, {})) is None
    assert isinstance(governor_for(plan_threads("auto", {})), ThreadGovernor)
    monkeypatch.setattr(threads, "PROC_STAT", threads.Path("/nonexistent/stat"))
    assert governor_for(plan_threads("auto", {})) is None  # no /proc/stat (macOS, Windows): the plan stays


def test_read_cpu_times_counts_only_our_cpus(tmp_path: threads.Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  900 0 900 900 0 0 0 0 0 0\n"
        "cpu0 100 10 50 1000 7 1 2 3 100 0\n"  # guest (100) is inside user already
        "cpu1 500 0 0 0 0 0 0 0 0 0\n"
        "intr 12345\n"
    )
    times = read_cpu_times(frozenset({0}), stat)
    assert times is not None
    assert times.busy == pytest.approx((100 + 10 + 50 + 1 + 2 + 3) / threads.os.sysconf("SC_CLK_TCK"))
    assert read_cpu_times(frozenset({0}), tmp_path / "missing") is None


def test_a_real_reading_sees_this_process_work() -> None:
    import time

    before = read_cpu_times(frozenset(threads.os.sched_getaffinity(0)))
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    after = read_cpu_times(frozenset(threads.os.sched_getaffinity(0)))
    assert before is not None and after is not None
    assert after.own - before.own >= 0.2
    assert after.busy - before.busy >= 0.15  # our own busy time shows in /proc/stat too (10 ms ticks)


def test_trainer_applies_the_governor_and_logs_threads(tmp_path: threads.Path) -> None:
    import torch
    from toy_training import toy_trainer

    before = torch.get_num_threads()
    try:
        trainer = toy_trainer("fp32", tmp_path, max_steps=4, num_threads=1)
        assert trainer.governor is None  # a fixed number is never governed
        cpu = FakeCpu()
        trainer.governor = ThreadGovernor(
            ThreadPlan(2, 2, "test", adaptive=True), cpus=frozenset({0, 1}), interval_s=0.0, read=cpu.read
        )
        steps = iter([1.6, 1.0, 1.0, 1.0, 1.0])  # busy neighbours from the first interval on

        def tick() -> str | None:
            cpu.advance(next(steps))
            return ThreadGovernor.tick(trainer.governor)  # type: ignore[arg-type]

        trainer.governor.tick = tick  # type: ignore[method-assign]
        trainer.fit()
        assert torch.get_num_threads() == 1  # the real torch setting followed the governor
        rows = [row for row in trainer.history if "sys/threads" in row]
        assert [row["sys/threads"] for row in rows] == [1, 1, 1, 1]
        assert rows[0]["sys/cpu_neighbours"] == pytest.approx(1.6)
    finally:
        torch.set_num_threads(before)


def test_only_non_deterministic_cpu_runs_are_governed(tmp_path: threads.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from toy_training import toy_trainer

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 2)
    before = torch.get_num_threads()
    try:
        assert isinstance(toy_trainer("fp32", tmp_path / "a").governor, ThreadGovernor)
        assert toy_trainer("fp32", tmp_path / "b", deterministic=True).governor is None
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(before)
