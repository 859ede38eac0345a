"""Shared test settings: W&B and MLflow never touch the network, CUDA tests skip without a GPU."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # logger=mlflow keeps test runs in their own run directories
# A fixed thread count: the thread governor (framework.engine.threads) would otherwise change it mid-run whenever something
# else loads the machine, and the exact-resume tests compare bits. Governor tests pass their own environment.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Token caches of test runs stay out of ~/.cache; under pytest-xdist each worker gets its own (the controller's would
# be inherited and shared, and a test that expects to build a cache could find another worker's).
if "PLAIT_CACHE_DIR" not in os.environ or "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["PLAIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="plait-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PLAIT_CACHE_DIR"], True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `gpu` when CUDA is unavailable."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
