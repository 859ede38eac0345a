"""Built-in tasks."""

from plugins.tasks import sentiment  # noqa: F401  (importing registers them)
