"""Built-in model architectures."""

from plugins.models import transformer_encoder  # noqa: F401  (importing registers them)
