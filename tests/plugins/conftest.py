"""The built-in plugins' tests build components through the registries: load every plugin first, as `plait` does.

Without this, a test module that builds a model from a task's test file depended on import side effects (tasks no
longer import models: plugin kinds are independent)."""

from __future__ import annotations

import pytest

from framework.plugins import load_plugins


@pytest.fixture(autouse=True, scope="session")
def _plugins_loaded() -> None:
    load_plugins()
