"""Built-in callbacks: ema (an exponential moving average of the weights, evaluated beside them), median
stopping of a sweep's bad trials, and notify (messages when a run ends, through apprise)."""

from plugins.callbacks import ema, median_stop, notify  # noqa: F401  (importing registers them)
