"""The data-scale benchmark: seeded corpora of the asked size, and the script end to end at a tiny size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    """tools/bench/<name>.py as a module (tools/ is not a package; data_scale imports corpora beside it)."""
    sys.path.insert(0, str(ROOT / "tools/bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / f"tools/bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_corpora_are_seeded_and_sized(tmp_path: Path) -> None:
    corpora = load("corpora")
    corpora.write_text(tmp_path / "a.txt", 0.2)
    corpora.write_text(tmp_path / "b.txt", 0.2)
    assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
    assert 0.2e6 <= (tmp_path / "a.txt").stat().st_size < 3e6
    corpora.write_tsv(tmp_path / "c.tsv", 500)
    lines = (tmp_path / "c.tsv").read_text().splitlines()
    assert lines[0] == "text\tlabel" and len(lines) == 501 and lines[1].split("\t")[1] in corpora.LABELS
    spec = corpora.write_parallel(tmp_path, 300)
    src, tgt = (Path(spec.format(lang=lang)).read_text().splitlines() for lang in ("src", "tgt"))
    assert len(src) == len(tgt) == 300 and len(src[0].split()) == len(tgt[0].split())


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    bench = load("data_scale")
    argv = [
        "--sizes",
        "",
        "--rows",
        "400",
        "--pairs",
        "0",
        "--steps",
        "3",
        "--repeats",
        "1",
        "--workdir",
        str(tmp_path),
    ]
    (row,) = bench.main(argv)
    assert row["direct"]["tokens"] > 0 and row["setup"]["seconds"] > 0 and row["setup"]["peak_mb"] > 0
    assert row["second"]["startup_s"] > 0 and row["store"]["tokens_per_s"] > 0 and row["memory"]["tokens_per_cpu_s"] > 0
