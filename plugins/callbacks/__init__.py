"""Built-in callbacks: ema (an exponential moving average of the weights, evaluated beside them)."""

from plugins.callbacks import ema  # noqa: F401  (importing registers it)
