"""Built-in callbacks: ema (an exponential moving average of the weights, evaluated beside them), median
stopping of a sweep's bad trials, and notify (messages when a run ends, through apprise). Declared here; a module
is imported only when a run builds its callback."""

from framework import CALLBACKS

CALLBACKS.declare("ema", config="plugins.callbacks.configs:EMAConfig", factory="plugins.callbacks.ema:build_ema")
CALLBACKS.declare(
    "median_stop",
    config="plugins.callbacks.median_stop:MedianStopConfig",
    factory="plugins.callbacks.median_stop:build_median_stop",
)
CALLBACKS.declare(
    "notify", config="plugins.callbacks.notify:NotifyConfig", factory="plugins.callbacks.notify:build_notify"
)
