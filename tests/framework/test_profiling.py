"""debug=profile (trainer.profiler): a Chrome/Perfetto trace with the step phases as named ranges, the top
operators by self time, and a phase split that sums to the measured step time within 10%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from framework.engine.phases import BACKWARD, DATA, FORWARD, OPTIMIZER, PRECISION, phase
from framework.engine.profiling import PHASES_FILE, PROFILE_DIR, TOP_OPS_FILE
from framework.engine.run import train
from framework.testing import compose

SMALL = ["task.demo_size=300", "tokenizer.vocab_size=200", "trainer.device=cpu", "logger=[jsonl]"]
SMALL += ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64"]


def test_phases_are_ranges_only_while_a_profiler_records() -> None:
    assert isinstance(phase(FORWARD), type(phase(BACKWARD)))  # no-ops outside a profiler
    with torch.profiler.profile() as prof, phase(FORWARD):
        torch.ones(4).sum()
    assert [e.name for e in prof.events() if e.name == FORWARD] == [FORWARD]


def trace_totals(trace: Path) -> tuple[dict[str, float], float, int]:
    """From the trace file alone: microseconds in each top-level phase, in the ProfilerStep ranges, and steps."""
    events = json.loads(trace.read_text())["traceEvents"]
    ranges = [e for e in events if e.get("ph") == "X"]
    phases = {name: sum(e["dur"] for e in ranges if e["name"] == name) for name in (DATA, FORWARD, BACKWARD, OPTIMIZER)}
    steps = [e for e in ranges if e["name"].startswith("ProfilerStep#")]
    return phases, sum(e["dur"] for e in steps), len(steps)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "amp_fp16"])  # amp_fp16: loss scaling and finite checks
def test_debug_profile_writes_a_trace_and_a_phase_split_that_adds_up(tmp_path: Path, precision: str) -> None:
    cfg = compose(["debug=profile", *SMALL, f"precision={precision}"], quick=False)
    train(cfg, tmp_path / "run")
    out = tmp_path / "run" / PROFILE_DIR
    (trace,) = out.glob("*.pt.trace.json")  # the name TensorBoard's profiler plugin looks for
    phases, step_us, n = trace_totals(trace)
    assert n == 5 and all(us > 0 for us in phases.values()), phases
    assert abs(step_us - sum(phases.values())) <= 0.10 * step_us  # what the trace shows
    names = {e.get("name") for e in json.loads(trace.read_text())["traceEvents"]}
    assert PRECISION in names
    split = json.loads((out / PHASES_FILE).read_text())
    assert split["steps"] == 5 and split["first_step"] == 5
    assert set(split["phases_ms"]) == {"data_wait", "forward", "backward", "optimizer", "precision"}
    assert abs(split["step_ms"] - split["phases_sum_ms"]) <= 0.10 * split["step_ms"]  # what Plait reports
    assert split["phases_sum_ms"] == pytest.approx(sum(split["phases_ms"].values()))
    if precision == "amp_fp16":
        assert split["phases_ms"]["precision"] > 0
    table = (out / TOP_OPS_FILE).read_text()
    assert "Self CPU" in table and "aten::" in table
