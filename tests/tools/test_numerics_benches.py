"""The decoding and numerics benchmarks run end to end at tiny lengths and report identical outputs/answers
(their speed is read from docs/performance.md, never asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    """tools/bench/<name>.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / f"tools/bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def table_rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]


def test_decode_bench_compares_cached_and_uncached_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--models", "hf_seq2seq", "hf_causal_lm", "--sentences", "2", "--prompts", "1", "--rounds", "1"]
    load("decode").main([*argv, "--target-tokens", "3", "--new-tokens", "3"])
    rows = table_rows(capsys.readouterr().out)[1:]
    modes = {(r[0], r[1]) for r in rows}
    assert modes == {
        ("hf_seq2seq", "greedy"),
        ("hf_seq2seq", "beam4"),
        *(("hf_causal_lm", m) for m in ("greedy", "sample", "beam4")),
    }
    assert all(r[-1] == "True" for r in rows)


def test_numerics_bench_checks_answers_and_losses(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("optimi")
    load("numerics").main(["--rounds", "1", "--steps", "3", "--sizes", "tiny"])
    rows = [r for r in table_rows(capsys.readouterr().out) if r[0] == "tiny"]
    finite, kahan = rows[:2], rows[2:]
    assert [r[3] for r in finite] == ["float32", "bfloat16"] and all(r[-1] == "True" for r in finite)
    assert len(kahan) == 1 and float(kahan[0][-1]) < 2**-7


def test_dropout_bench_reports_every_shape_and_attention(capsys: pytest.CaptureFixture[str]) -> None:
    load("dropout").main(["--rounds", "1", "--repeats", "1"])
    rows = table_rows(capsys.readouterr().out)
    dropout_rows = [r for r in rows if r[0].startswith("(")]
    attention_rows = [r for r in rows if r[0] in ("padding mask", "causal")]
    assert len(dropout_rows) == 6 and len(attention_rows) == 4
    assert all(float(r[-1].rstrip("x")) > 0 for r in dropout_rows + attention_rows)
