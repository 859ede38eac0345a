"""The GPU throughput script runs end to end on CPU at a tiny shape (the real run needs CUDA)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    """tools/bench/gpu_throughput.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_throughput", ROOT / "tools/bench/gpu_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_tiny_shape_on_cpu_measures_bf16_and_reports_fp8_unusable(tmp_path: Path) -> None:
    script = load_script()
    out = tmp_path / "rows.json"
    argv = ["--tiny", "--device", "cpu", "--no-compile", "--warmup", "1", "--steps", "1", "--json", str(out)]
    rows = script.main(argv)
    bf16, fp8 = rows
    assert bf16.precision == "amp_bf16" and bf16.batch == 8 and bf16.tokens_per_s > 0 and bf16.mfu > 0
    assert fp8.batch == 0 and math.isnan(fp8.tokens_per_s) and "compute capability" in fp8.note
    assert [r["precision"] for r in json.loads(out.read_text())] == ["amp_bf16", "fp8"]


def test_flops_per_token_is_the_frameworks_measure_and_matches_gpt2_124m() -> None:
    import torch

    script = load_script()
    with torch.device("meta"):  # shapes only: the count needs no weights
        model = script.GPT(script.GPT2)
    params = sum(p.numel() for p in model.parameters())
    assert 124_000_000 < params < 125_000_000  # GPT-2 small with vocab 50,304, tied head
    rule = 6 * (params - 1024 * 768) + 12 * 12 * 768 * 1024  # positions are looked up, not multiplied
    measured = script.flops_per_token(model, script.GPT2)
    assert abs(measured - rule) / rule < 0.01  # biases and norms are the difference
    assert script.training_flops.__module__ == "framework.engine.model_summary"  # one definition
