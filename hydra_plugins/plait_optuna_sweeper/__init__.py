"""Plait's Optuna sweeper for Hydra (`hydra/sweeper=plait_optuna`): Hydra's, made to continue a stored study."""
