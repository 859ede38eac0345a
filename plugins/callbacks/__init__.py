"""Built-in callbacks: ema (an exponential moving average of the weights, evaluated beside them) and median
stopping of a sweep's bad trials."""

from plugins.callbacks import ema, median_stop  # noqa: F401  (importing registers them)
