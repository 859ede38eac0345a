"""Built-in tasks."""

from plugins.tasks import classification, language_modeling, translation  # noqa: F401  (importing registers them)
