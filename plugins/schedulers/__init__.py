"""Built-in learning-rate schedules, stepped once per optimizer step, each with a linear warmup (`warmup_steps`).

Closed forms of the step (`closed_form.py`: constant, linear, cosine, warmup_cosine, polynomial, wsd,
inverse_sqrt) and the metric-driven `plateau` (`plateau.py`). They multiply the optimizer's lr. Declared here
with their schemas (`configs.py`); torch is imported only when a run builds one.
"""

from framework import SCHEDULERS

SCHEDULERS.declare(
    "constant",
    config="plugins.schedulers.configs:ConstantConfig",
    factory="plugins.schedulers.closed_form:build_constant",
)
SCHEDULERS.declare(
    "linear", config="plugins.schedulers.configs:LinearConfig", factory="plugins.schedulers.closed_form:build_linear"
)
SCHEDULERS.declare(
    "cosine", config="plugins.schedulers.configs:CosineConfig", factory="plugins.schedulers.closed_form:build_cosine"
)
SCHEDULERS.declare(
    "warmup_cosine",
    config="plugins.schedulers.configs:WarmupCosineConfig",
    factory="plugins.schedulers.closed_form:build_warmup_cosine",
)
SCHEDULERS.declare(
    "polynomial",
    config="plugins.schedulers.configs:PolynomialConfig",
    factory="plugins.schedulers.closed_form:build_polynomial",
)
SCHEDULERS.declare(
    "wsd", config="plugins.schedulers.configs:WsdConfig", factory="plugins.schedulers.closed_form:build_wsd"
)
SCHEDULERS.declare(
    "inverse_sqrt",
    config="plugins.schedulers.configs:InverseSqrtConfig",
    factory="plugins.schedulers.closed_form:build_inverse_sqrt",
)
SCHEDULERS.declare(
    "plateau", config="plugins.schedulers.configs:PlateauConfig", factory="plugins.schedulers.plateau:build_plateau"
)
