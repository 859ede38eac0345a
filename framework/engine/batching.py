"""The training batches of one epoch: `trainer.batch_size` examples each (the task's `rank_batches`), or with
`trainer.max_tokens` as many as fit in a token budget, padding counted (a `framework.task.TokenBatcher` task).

Both orders are pure functions of the epoch seed (`trainer.seed + epoch`), so a checkpoint's position in the epoch
resumes exactly; under torchrun each process takes its share of each round of batches (`rank_rounds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from framework.errors import ConfigValueError

if TYPE_CHECKING:  # framework.task imports torch; validation (read by `train --help`) imports this module
    from framework.task import Batch, Task, TokenBatcher

KEY = "trainer.max_tokens"


def token_batcher(task: Task, max_tokens: int) -> TokenBatcher:
    """`task` as a TokenBatcher; an error naming trainer.max_tokens and the fix for a task that cannot batch so."""
    from framework.task import TokenBatcher

    if isinstance(task, TokenBatcher):
        return task
    raise ConfigValueError(
        KEY,
        f"={max_tokens}: the task {type(task).__name__} cannot batch by a token budget (its examples have one "
        "length, as language modelling's blocks of task.block_size tokens, or it does not implement "
        "token_batches); remove trainer.max_tokens and set trainer.batch_size",
    )


def epoch_batches(task: Task, trainer: Any, *, epoch: int, start: int, rank: int, world: int) -> Iterator[Batch]:
    """This process's training batches of `epoch` from global batch `start` on. `trainer`: the TrainerConfig."""
    from framework.task import rank_rounds

    seed = trainer.seed + epoch
    if trainer.max_tokens is None:
        return task.rank_batches(
            "train", batch_size=trainer.batch_size, epoch_seed=seed, start=start, rank=rank, world=world
        )
    batcher = token_batcher(task, trainer.max_tokens)
    return rank_rounds(
        batcher.token_batches("train", max_tokens=trainer.max_tokens, epoch_seed=seed, start=start), rank, world
    )
