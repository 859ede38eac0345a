"""The contract suites' earlier import paths still give the same classes as `framework.testing`."""

from __future__ import annotations

import importlib

import pytest

import framework.testing


@pytest.mark.parametrize("path", ["framework.contracts", "framework.testing.contracts"])
def test_old_import_paths_re_export_the_suites(path: str) -> None:
    old = importlib.import_module(path)
    suites = [name for name in framework.testing.__all__ if name.endswith("Contract")]
    assert len(suites) == 7
    assert all(getattr(old, name) is getattr(framework.testing, name) for name in suites)
    assert set(framework.testing.__all__) - {"QUICK", "compose", "run_quick"} <= set(old.__all__)
