"""tools/bench/utilisation.py: the utilisation arithmetic, the run's precision, the variant syntax and the probe."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("utilisation", ROOT / "tools/bench/utilisation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["utilisation"] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_utilisation_uses_the_measured_flops_and_the_runs_precision(bench: ModuleType) -> None:
    run = bench.Measured(
        label="x", precision="amp_bf16", threads=1.0, tokens_per_s=1000.0, cpu_s=2.0, wall_s=4.0, tokens=4000.0,
        flops_per_token=2e6, rule_flops_per_token=3e6, parameters=500_000, load=1.0,
    )  # fmt: skip
    peaks = {
        "fp32/1": bench.Peak("fp32", 1, 1e10, 2e10),
        "bf16/1": bench.Peak("bf16", 1, 4e10, 8e10),
        f"fp32/{bench.CPUS}": bench.Peak("fp32", bench.CPUS, 1e10, 2e10),
        f"bf16/{bench.CPUS}": bench.Peak("bf16", bench.CPUS, 4e10, 8e10),
    }
    u = bench.utilisation(run, peaks)
    assert u["model_flops_per_s"] == pytest.approx(2e9)  # measured FLOPs/token x tokens/s
    assert u["rule_flops_per_s"] == pytest.approx(3e9)  # 6N beside it
    assert u["util_wall"] == pytest.approx(2e9 / 4e10)  # the bf16 peak: the run was amp_bf16
    assert u["util_cpu"] == pytest.approx((2e6 * 4000 / 2.0) / 8e10)


def test_precision_comes_from_the_runs_config_then_its_log(bench: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("precision:\n  _name_: fp32\n")
    assert bench.precision_of(tmp_path, "") == "fp32"
    assert bench.precision_of(tmp_path / "none", "precision: precision=auto -> amp_bf16 on cpu: ...") == "amp_bf16"
    assert bench.precision_of(tmp_path / "none", "") == "unknown"


def test_variant_syntax_and_its_error(bench: ModuleType) -> None:
    job = bench.parse_variant("gpt: torch kernel=shakespeare_char_gpt:model.attention_kernel=torch,trainer.seed=1")
    assert (job.label, job.experiment) == ("gpt: torch kernel", "shakespeare_char_gpt")
    assert job.overrides == ["model.attention_kernel=torch", "trainer.seed=1"]
    assert (job.steps, job.log_every) == (
        bench.JOBS["shakespeare_char_gpt"].steps,
        bench.JOBS["shakespeare_char_gpt"].log_every,
    )
    longer = bench.parse_variant("long=multi30k_transformer:trainer.max_steps=150,trainer.log_every_n_steps=25")
    assert (longer.steps, longer.log_every) == (150, 25)  # the run is read by its own length and cadence
    with pytest.raises(SystemExit, match="one of"):
        bench.parse_variant("x=no_such_experiment:")


def test_peak_probe_counts_flops_per_wall_and_cpu_second(bench: ModuleType) -> None:
    peak = bench.probe_peak("fp32", 1, seconds=0.05)
    assert peak.wall_flops > 0 and peak.cpu_flops > 0
