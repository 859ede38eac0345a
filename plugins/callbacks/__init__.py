"""Built-in callbacks: ema (an exponential moving average of the weights, evaluated beside them) and median
stopping of a sweep's bad trials. Declared here; a module is imported only when a run builds its callback."""

from framework import CALLBACKS

CALLBACKS.declare("ema", config="plugins.callbacks.configs:EMAConfig", factory="plugins.callbacks.ema:build_ema")
CALLBACKS.declare(
    "median_stop",
    config="plugins.callbacks.median_stop:MedianStopConfig",
    factory="plugins.callbacks.median_stop:build_median_stop",
)
