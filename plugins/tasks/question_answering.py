"""Question answering (`task=question_answering`): the registered key; `task.format` picks the form.

task.format=babi: bAbI stories, one answer out of the answer vocabulary (plugins.tasks.babi_task.BabiTask).
task.format=squad: SQuAD v1.1 extractive spans, EM and F1 (plugins.tasks.squad_task.SquadTask).
The config schema and the base class both forms share are in plugins.tasks.qa_base.
"""

from __future__ import annotations

from typing import Any

from framework import PlaitError
from plugins.tasks.babi_task import BabiTask, story_sentences
from plugins.tasks.configs import FORMATS, QAFormat, QuestionAnsweringConfig
from plugins.tasks.qa_base import QuestionAnsweringTask
from plugins.tasks.squad_task import SquadTask

__all__ = [
    "FORMATS",
    "BabiTask",
    "QAFormat",
    "QuestionAnsweringConfig",
    "QuestionAnsweringTask",
    "SquadTask",
    "build_question_answering",
    "story_sentences",
]

FORMS: dict[QAFormat, type[QuestionAnsweringTask[Any]]] = {QAFormat.babi: BabiTask, QAFormat.squad: SquadTask}


def build_question_answering(cfg: QuestionAnsweringConfig) -> QuestionAnsweringTask[Any]:
    """bAbI story QA (answer selection, per-task error) or SQuAD v1.1 extractive spans (EM/F1), by task.format."""
    if cfg.format not in FORMATS:
        raise PlaitError(f"task.format={cfg.format} is not known; choose one of {', '.join(FORMATS)}")
    return FORMS[QAFormat(cfg.format)](cfg)
