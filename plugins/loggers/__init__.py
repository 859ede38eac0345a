"""Built-in loggers: console progress, metrics.jsonl, Weights & Biases, TensorBoard, MLflow. Declared here; a
module is imported only when a run builds its logger."""

from framework import LOGGERS

LOGGERS.declare(
    "console", config="plugins.loggers.console:ConsoleLoggerConfig", factory="plugins.loggers.console:build_console"
)
LOGGERS.declare("jsonl", config="plugins.loggers.jsonl:JsonlLoggerConfig", factory="plugins.loggers.jsonl:build_jsonl")
LOGGERS.declare(
    "wandb", config="plugins.loggers.wandb_logger:WandbLoggerConfig", factory="plugins.loggers.wandb_logger:build_wandb"
)
LOGGERS.declare(
    "tensorboard",
    config="plugins.loggers.tensorboard:TensorBoardLoggerConfig",
    factory="plugins.loggers.tensorboard:build_tensorboard",
)
LOGGERS.declare(
    "mlflow",
    config="plugins.loggers.mlflow_logger:MlflowLoggerConfig",
    factory="plugins.loggers.mlflow_logger:build_mlflow",
)
