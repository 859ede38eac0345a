"""Built-in loggers: console progress, metrics.jsonl, Weights & Biases."""

from plugins.loggers import console, jsonl, wandb_logger  # noqa: F401  (importing registers them)
