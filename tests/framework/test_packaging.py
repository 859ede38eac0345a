"""The wheel ships conf/ inside the package, the Hydra sweeper plugin, and declares the console script and plugin
entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_conf_and_entry_points(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("plait-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "framework/conf/train.yaml" in names
    assert any(n.startswith("plugins/models/") for n in names)
    assert "hydra_plugins/plait_optuna_sweeper/plait_optuna_sweeper.py" in names  # Hydra finds the sweeper there
    assert "hydra_plugins/__init__.py" not in names  # a namespace package, shared with Hydra's own plugins
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "plait = framework.cli:main" in text
    assert "[plait.plugins]" in text and "models = plugins.models" in text and "callbacks = plugins.callbacks" in text
