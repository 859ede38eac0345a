"""Task tests: every test gets its own token cache directory, and torch one thread (the CPU is shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point PLAIT_CACHE_DIR at a fresh directory for this test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(cache))
    return cache
