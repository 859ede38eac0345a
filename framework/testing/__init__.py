"""Helpers for tests of plait and of third-party plugins: compose configs, run tiny trainings, contract suites.

cfg = compose(["model=my_model", "trainer.max_steps=5"])
result = run_quick(["model=my_model"], tmp_path)       # framework.engine.summary.RunResult
class TestMyModel(ModelContract): key = "my_model"    # the checks every built-in model passes

The contract suites plugin authors subclass live one module per kind (models.py, tokenizers.py, optimizers.py,
schedulers.py, callbacks.py, loggers.py, precision.py) over shared ground (components.py, model_data.py,
toy_regression.py); import them from here. A plugin's test subclasses the suite of its kind and names its
component; tiny sizes come from `config` on the test class, else from an optional `tiny(kind)` classmethod on
the component's config dataclass (option overrides for that task kind, or None when unsupported), else the
defaults.
"""

from framework.testing.callbacks import CallbackContract
from framework.testing.components import tiny_config
from framework.testing.loggers import LoggerContract
from framework.testing.model_data import KINDS, contract_batch, spec_for
from framework.testing.models import ModelContract, build_model, train_losses
from framework.testing.optimizers import OptimizerContract
from framework.testing.precision import PrecisionContract
from framework.testing.runs import QUICK, compose, run_quick
from framework.testing.schedulers import SchedulerContract
from framework.testing.tokenizers import TokenizerContract

__all__ = [
    "KINDS",
    "QUICK",
    "CallbackContract",
    "LoggerContract",
    "ModelContract",
    "OptimizerContract",
    "PrecisionContract",
    "SchedulerContract",
    "TokenizerContract",
    "build_model",
    "compose",
    "contract_batch",
    "run_quick",
    "spec_for",
    "tiny_config",
    "train_losses",
]
