"""The Hydra plugin class; Hydra imports every module of `hydra_plugins` at start, so this one stays cheap and
works without the `sweeps` extra (the class then does not exist and `hydra/sweeper=plait_optuna` says so)."""

from __future__ import annotations

import logging
from typing import Any

try:
    import hydra_plugins.hydra_optuna_sweeper.optuna_sweeper as optuna_sweeper
except ImportError:  # pragma: no cover - the sweeps extra is not installed
    optuna_sweeper = None  # type: ignore[assignment]

if optuna_sweeper is not None:
    # alembic (optuna's schema tool) logs its plugin setup at INFO when the sampler's import pulls optuna in
    logging.getLogger("alembic").setLevel(logging.WARNING)

    class PlaitOptunaSweeper(optuna_sweeper.OptunaSweeper):
        """Hydra's Optuna sweeper whose stored study continues (see `_continuing`)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            from hydra_plugins.plait_optuna_sweeper._continuing import ContinuingOptunaSweeperImpl

            self.sweeper = ContinuingOptunaSweeperImpl(*args, **kwargs)
