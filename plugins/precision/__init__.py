"""Built-in precision strategies."""

from plugins.precision import amp, auto, bf16, fp8, fp32, master  # noqa: F401  (importing registers them)
