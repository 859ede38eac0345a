"""Built-in optimizers: thin factories over torch.optim (`torch_optim.py`) with decay / no-decay parameter groups.
Declared here; torch is imported only when a run builds one."""

from framework import OPTIMIZERS

OPTIMIZERS.declare(
    "sgd", config="plugins.optimizers.configs:SGDConfig", factory="plugins.optimizers.torch_optim:build_sgd"
)
OPTIMIZERS.declare(
    "adam", config="plugins.optimizers.configs:AdamConfig", factory="plugins.optimizers.torch_optim:build_adam"
)
OPTIMIZERS.declare(
    "adamw", config="plugins.optimizers.configs:AdamWConfig", factory="plugins.optimizers.torch_optim:build_adamw"
)
OPTIMIZERS.declare(
    "rmsprop", config="plugins.optimizers.configs:RMSpropConfig", factory="plugins.optimizers.torch_optim:build_rmsprop"
)
OPTIMIZERS.declare(
    "adagrad", config="plugins.optimizers.configs:AdagradConfig", factory="plugins.optimizers.torch_optim:build_adagrad"
)
