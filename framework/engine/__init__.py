"""The engine: the one build path, the training loop, evaluation, checkpoints and the run's machinery."""
