"""Built-in precision strategies."""

from plugins.precision import amp, fp32  # noqa: F401  (importing registers them)
