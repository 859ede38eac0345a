"""`plait new-plugin` writes a package that installs with pip and passes its own contract tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framework.commands.new_plugin import parse
from framework.registry import PlaitError


def generate_install_and_test(tmp_path: Path, name: str, kind: str) -> subprocess.CompletedProcess[str]:
    """plait new-plugin NAME --kind KIND; pip install it into its own site dir; run its tests against it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    made = subprocess.run(
        [sys.executable, "-m", "framework.cli", "new-plugin", name, "--kind", kind],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    package = tmp_path / f"plait-{name.replace('_', '-')}"
    site = tmp_path / "site"  # a separate install location: the test environment itself stays unchanged
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    installed = subprocess.run([*pip, str(package)], env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert (site / f"plait_{name}-0.1.0.dist-info" / "entry_points.txt").is_file()
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env.get('PYTHONPATH', '')}"
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    return tested


def test_new_model_plugin_installs_and_passes_its_contract_tests(tmp_path: Path) -> None:
    tested = generate_install_and_test(tmp_path, "demo", "model")
    assert "passed" in tested.stdout and "failed" not in tested.stdout
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    composed = subprocess.run(
        [sys.executable, "-m", "framework.cli", "train", "model=demo_preset", "--cfg", "job"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert composed.returncode == 0, composed.stderr
    assert "_name_: demo\n" in composed.stdout and "d_model: 128" in composed.stdout  # the shipped preset


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["optimizer", "scheduler", "logger", "callback"])
def test_new_plugin_of_every_kind_passes_its_contract_tests(tmp_path: Path, kind: str) -> None:
    generate_install_and_test(tmp_path, f"demo_{kind}", kind)


def test_new_plugin_arguments_are_checked(tmp_path: Path) -> None:
    assert parse(["plait-my-thing", "--kind=optimizer"]) == ("my_thing", "optimizer", None)
    with pytest.raises(PlaitError, match="Closest match: 'model'"):
        parse(["x", "--kind", "modle"])
    with pytest.raises(PlaitError, match="must be lowercase"):
        parse(["9lives"])
