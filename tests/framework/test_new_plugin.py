"""`plait new-plugin` writes a package that installs with pip and passes its own contract tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli.commands.new_plugin import parse
from framework.errors import PlaitError


def fresh_venv(root: Path) -> Path:
    """A new virtual environment that sees this one's packages (pip, setuptools, torch, plait: what a user has
    after `pip install plait`); returns its python. Nothing is installed into the test environment itself."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True, timeout=120
    )
    python = root / "bin" / "python"
    child_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    parents = [p for p in sys.path if p.endswith("site-packages")]
    lines = [f"import site; site.addsitedir({p!r})" for p in parents]  # runs the parent's .pth files too
    (Path(child_site) / "parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


def generate_install_and_test(tmp_path: Path, name: str, kind: str) -> subprocess.CompletedProcess[str]:
    """plait new-plugin NAME --kind KIND; `pip install -e` it into a fresh venv; run its tests there."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    made = subprocess.run(
        [sys.executable, "-m", "framework.cli", "new-plugin", name, "--kind", kind],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    package = tmp_path / f"plait-{name.replace('_', '-')}"
    python = fresh_venv(tmp_path / "venv")
    pip = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(package)]
    installed = subprocess.run(pip, env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    tested = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    return tested


def test_new_model_plugin_installs_and_passes_its_contract_tests(tmp_path: Path) -> None:
    tested = generate_install_and_test(tmp_path, "demo", "model")
    assert "passed" in tested.stdout and "failed" not in tested.stdout
    composed = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-m", "framework.cli", "train", "model=demo_preset", "--cfg", "job"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
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
