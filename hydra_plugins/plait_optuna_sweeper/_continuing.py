"""Hydra's Optuna sweeper, continuing a stored study (`storage` + `study_name`) when the same command runs again.

- `n_trials` is the study's total: a study that has 3 trials and `n_trials: 6` runs 3 more.
- Trial directories are numbered like the study's trials (`<sweep>/<trial number>`), and each trial's
  run directory is recorded in the study (framework.cli.optuna_study), so numbers go on across runs.
- Trials a killed sweep left RUNNING are relaunched first, in their own directories, from their recorded
  configs, resuming from their last checkpoints.

Without storage (an in-memory study) it behaves like Hydra's sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from optuna.distributions import BaseDistribution
from optuna.trial import Trial

from framework.cli.optuna_study import RUN_DIR_ATTR, finish_killed_trials, open_study

log = logging.getLogger(__name__)


class ContinuingOptunaSweeperImpl(OptunaSweeperImpl):
    """OptunaSweeperImpl that counts, numbers and finishes the trials of a stored study."""

    def sweep(self, arguments: list[str]) -> None:
        """Finish the killed trials, then ask only for the trials the study still lacks."""
        if self.storage is not None:
            study = open_study(self.storage, self.study_name, self._get_directions())
            finish_killed_trials(study, Path(self.sweep_dir))
            done = len(study.trials)
            self.job_idx = done  # the next trial's number
            log.info(f"Study {study.study_name}: {done} trials so far, {max(0, self.n_trials - done)} to go")
            self.n_trials = max(0, self.n_trials - done)
        super().sweep(arguments)

    def _configure_trials(
        self, trials: list[Trial], search_space_distributions: dict[str, BaseDistribution], fixed_params: dict[str, Any]
    ) -> Sequence[Sequence[str]]:
        """Record where each trial will run (the launcher numbers them from `job_idx`), then configure them."""
        for i, trial in enumerate(trials):
            trial.set_user_attr(RUN_DIR_ATTR, str(Path(self.sweep_dir).resolve() / str(self.job_idx + i)))
        return super()._configure_trials(trials, search_space_distributions, fixed_params)
