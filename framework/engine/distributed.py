"""One run on many processes: torch.distributed set up from torchrun's environment, and the few collectives
the core needs (compose once, shard data, agree on flags, gather evaluation partials, wrap the model).

    torchrun --nproc_per_node=2 -m framework.cli train trainer.batch_size=16 ...

Every function here is a no-op (or the single-process answer) when torch.distributed is not initialised,
so the core calls them unconditionally. Backend: nccl for CUDA tensors and gloo for CPU tensors
("cpu:gloo,cuda:nccl" on a CUDA machine, plain gloo elsewhere). `init()` sets a timeout on every
collective (PLAIT_DIST_TIMEOUT_S, default 600 s) so no rank waits forever on a peer that is gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn

from framework.errors import PlaitError

TIMEOUT_ENV = "PLAIT_DIST_TIMEOUT_S"
STRATEGIES = ("ddp", "fsdp")
T = TypeVar("T")


def launched() -> bool:
    """True when this process was started by torchrun (or another launcher) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def is_initialized() -> bool:
    """True when a process group is live (i.e. this is a multi-process run)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's global rank (0 without torch.distributed)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes training this run (1 without torch.distributed)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on the one process that writes logs, metrics, checkpoints and holds the run lock."""
    return rank() == 0


def local_device() -> torch.device:
    """The device of this rank: cuda:LOCAL_RANK when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def rank_device(device: torch.device) -> torch.device:
    """`device` for this rank: a CUDA device without an index becomes cuda:LOCAL_RANK under torchrun."""
    if is_initialized() and device.type == "cuda" and device.index is None:
        return local_device()
    return device


def init() -> None:
    """Join the process group described by torchrun's env (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)."""
    if is_initialized():
        return
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "600")))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_device())
        backend = "cpu:gloo,cuda:nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=timeout)


def teardown() -> None:
    """Leave the process group (safe to call when none is live)."""
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank reaches this point (nothing without torch.distributed)."""
    if is_initialized():
        dist.barrier()


def broadcast_object(obj: T) -> T:
    """Rank 0's `obj` on every rank (picklable objects; `obj` is ignored on other ranks)."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: T) -> list[T]:
    """Every rank's `obj`, in rank order (`[obj]` without torch.distributed)."""
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def _collective_device() -> torch.device:
    return local_device() if dist.get_backend() != "gloo" else torch.device("cpu")


def mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over ranks (the tensor itself without torch.distributed)."""
    if not is_initialized():
        return value
    out = value.detach().to(_collective_device(), torch.float64).clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / world_size()).to(value.device, value.dtype)


def any_rank(flag: torch.Tensor) -> torch.Tensor:
    """True (as a 0/1 float tensor) when `flag` is non-zero on any rank; used for overflow flags."""
    if not is_initialized():
        return flag
    out = flag.detach().to(_collective_device(), torch.float32).clone()
    dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out.to(flag.device)


def shard(items: Iterator[T], *, world: int | None = None, index: int | None = None) -> Iterator[tuple[int, T]]:
    """This rank's share of `items`: item i goes to rank i % world. Yields (i, item)."""
    world = world_size() if world is None else world
    index = rank() if index is None else index
    for i, item in enumerate(items):
        if i % world == index:
            yield i, item


def gather_partials(partials: list[Any]) -> list[Any]:
    """Every rank's evaluation partials, interleaved back into the split's batch order (see `shard`).

    The `gather` of `framework.engine.evaluation.evaluate`: with batch i on rank i % world, the result is the
    list a single process would have built, so `task.reduce` sums in the same order and metrics match.
    """
    if not is_initialized():
        return partials
    per_rank = all_gather_object(partials)
    out: list[Any] = []
    for i in range(max(len(p) for p in per_rank)):
        out.extend(p[i] for p in per_rank if i < len(p))
    return out


# -- the model ---------------------------------------------------------------------------------------


def wrap(model: nn.Module, strategy: str, device: torch.device, precision: Any) -> nn.Module:
    """`model` ready for data-parallel training: DDP (default) or FSDP2 `fully_shard`; unchanged on one process.

    Call after `precision.setup` (which casts the model and may create master weights) and before the
    optimizer is built. Strategies that cannot work are refused here with the reason and the fix.
    """
    if not is_initialized():
        return model
    if strategy not in STRATEGIES:
        raise PlaitError(f"trainer.strategy={strategy} is unknown; use one of {', '.join(STRATEGIES)}")
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    return _fully_shard(model, precision)


def _fully_shard(model: nn.Module, precision: Any) -> nn.Module:
    """FSDP2 over the whole model: parameters, gradients and optimizer state sharded across ranks."""
    from torch.distributed.fsdp import fully_shard

    if precision.optimizer_target(model) is not model or getattr(precision, "scaler", None) is not None:
        raise PlaitError(
            f"trainer.strategy=fsdp does not support precision={getattr(precision, 'name', precision)} "
            "(master weights and loss scaling need whole gradients); use precision=fp32 or amp_bf16, "
            "or trainer.strategy=ddp"
        )
    return cast(nn.Module, fully_shard(model))  # one unit: models reaching into children's parameters stay right


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside a DDP wrapper (FSDP2 modules are their own module)."""
    if hasattr(model, "require_backward_grad_sync") and isinstance(getattr(model, "module", None), nn.Module):
        return cast(nn.Module, model.module)
    return model


def is_sharded(model: nn.Module) -> bool:
    """True for an FSDP2 (`fully_shard`) model, whose state dicts hold sharded DTensors."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def no_sync(model: nn.Module, skip: bool) -> AbstractContextManager[Any]:
    """Skip the gradient all-reduce for this backward when `skip` (a non-final micro-batch); else nothing."""
    if skip and hasattr(model, "no_sync") and hasattr(model, "require_backward_grad_sync"):
        return cast(AbstractContextManager[Any], cast(Any, model).no_sync())
    if skip and is_sharded(model):
        cast(Any, model).set_requires_gradient_sync(False)  # FSDP2's method, not on nn.Module's type
        return _resync(model)
    return nullcontext()


class _resync(AbstractContextManager[Any]):
    """Turns FSDP2 gradient sync back on after a no_sync micro-batch."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __exit__(self, *exc: object) -> None:
        cast(Any, self.model).set_requires_gradient_sync(True)


def model_state(model: nn.Module) -> dict[str, Any]:
    """The full, unwrapped model state dict (same keys as a single-process run), on every rank."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return unwrap(model).state_dict()


def load_model_state(model: nn.Module, state: dict[str, Any]) -> None:
    """Load a full (single-process layout) model state dict into a plain, DDP or FSDP2 model."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))
        return
    unwrap(model).load_state_dict(state)


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's full state dict (gathered from shards under FSDP2)."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_optimizer_state_dict(model, optimizer, options=opts)
    return optimizer.state_dict()


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load `optimizer_state()` output (sharded again under FSDP2)."""
    if is_sharded(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
        return
    optimizer.load_state_dict(state)
