"""Built-in tasks."""

from plugins.tasks import classification, language_modeling, question_answering, translation  # noqa: F401  (importing registers them)
