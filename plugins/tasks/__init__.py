"""Built-in tasks. Declared here with their schemas (`configs.py`); a task's module, and torch, are imported only
when a run builds it."""

from framework import TASKS

TASKS.declare(
    "text_classification",
    config="plugins.tasks.configs:TextClassificationConfig",
    factory="plugins.tasks.classification:build_text_classification",
)
TASKS.declare(
    "sentiment", config="plugins.tasks.configs:SentimentConfig", factory="plugins.tasks.classification:build_sentiment"
)
TASKS.declare(
    "language_modeling",
    config="plugins.tasks.configs:LanguageModelingConfig",
    factory="plugins.tasks.language_modeling:build_language_modeling",
)
TASKS.declare(
    "question_answering",
    config="plugins.tasks.configs:QuestionAnsweringConfig",
    factory="plugins.tasks.question_answering:build_question_answering",
)
TASKS.declare(
    "translation",
    config="plugins.tasks.configs:TranslationConfig",
    factory="plugins.tasks.translation:build_translation",
)
