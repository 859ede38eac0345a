"""Which task kinds a model supports, checked when it is built."""

from __future__ import annotations

from framework.registry import PlaitError
from framework.task import TaskSpec


def check_kind(model: str, spec: TaskSpec, kinds: tuple[str, ...]) -> None:
    """Raise a PlaitError naming the supported task kinds when `spec.kind` is not one of them."""
    if spec.kind not in kinds:
        raise PlaitError(
            f"model={model} supports task kinds {', '.join(kinds)} but the task is '{spec.kind}'; "
            "pick a model for that task (see `plait list model`)"
        )
