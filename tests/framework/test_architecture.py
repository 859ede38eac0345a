"""The core's shape is checked, not just described: import-linter's contracts hold (and catch a layer broken
on purpose), no source file grows past 400 lines, and the built-ins import only the public API."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run `lint-imports` on the tree at `root` (its .importlinter, its packages first on the path)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (it comes with .[dev])")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([exe, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout or "broken" not in result.stdout.split("Contracts:")[-1]


def test_an_import_against_the_layers_is_caught(tmp_path: Path) -> None:
    for package in ("framework", "plugins"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "conf"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    task = tmp_path / "framework" / "task.py"
    task.write_text(task.read_text() + "\nfrom framework.cli import main  # noqa: E402  (breaks a layer on purpose)\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "framework.task -> framework.cli" in result.stdout


def _sources() -> list[Path]:
    return sorted(p for d in ("framework", "plugins") for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def test_no_source_file_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these files (a file tells one story): {long}"


def test_builtins_import_only_the_public_api() -> None:
    internal = re.compile(r"^\s*(from|import) framework\.(?!testing\b)[\w.]+", re.M)
    offenders = [
        f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
        for p in _sources()
        if p.parts[len(ROOT.parts)] == "plugins"
        for m in internal.finditer(p.read_text())
    ]
    assert offenders == []
