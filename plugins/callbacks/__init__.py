"""Built-in callbacks: median stopping of a sweep's bad trials."""

from plugins.callbacks import median_stop  # noqa: F401  (importing registers it)
