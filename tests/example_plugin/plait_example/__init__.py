"""Example third-party plugin, the reference a plugin author copies (see docs/plugins.md).

Importing this module (the `plait.plugins` entry point) declares `model=bag_of_embeddings`, the
`logger=best_metrics` logger and the `scheduler=noam` schedule: each key with its config dataclass and its
factory as `module:attr` references, so nothing here imports torch and `plait list` stays fast; a factory's module
is imported when a run builds it. YAML presets under `conf/` become options too (`model=bag_of_embeddings_big`,
`experiment=example_bag`). Tests: tests/.
"""

from framework import LOGGERS, MODELS, SCHEDULERS

PLAIT_API = 1  # the Plait plugin API major this package targets

MODELS.declare(
    "bag_of_embeddings",
    config="plait_example.configs:BagOfEmbeddingsConfig",
    factory="plait_example.bag:build_bag_of_embeddings",
)
LOGGERS.declare(
    "best_metrics",
    config="plait_example.best_metrics:BestMetricsConfig",
    factory="plait_example.best_metrics:build_best_metrics",
)
SCHEDULERS.declare("noam", config="plait_example.configs:NoamConfig", factory="plait_example.noam:build_noam")
