"""Built-in loggers: console progress, metrics.jsonl, Weights & Biases, TensorBoard, MLflow."""

from plugins.loggers import console, jsonl, mlflow_logger, tensorboard, wandb_logger  # noqa: F401  (importing registers them)
