"""Other weights for a model: swapped in for one evaluation, loaded by name from a checkpoint, or averaged.

A weight set is `{name: tensor}` over (a subset of) the model's state_dict, in any floating dtype; it is cast
into the model's own dtypes as it is copied in. Integer buffers (counters) are never averaged nor replaced.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from framework.callback import WEIGHT_SETS
from framework.errors import PlaitError

TRAINED = "model"  # the weights the optimizer trained: `weights=model`, the default


def _targets(model: nn.Module, weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The model's tensors that `weights` replaces; an unknown name is an error naming it."""
    own = model.state_dict(keep_vars=True)
    unknown = [k for k in weights if k not in own]
    if unknown:
        raise PlaitError(f"these weights do not fit the model: no {', '.join(unknown[:5])} in it")
    return {k: own[k] for k in weights if own[k].is_floating_point()}


@torch.no_grad()
def copy_into(model: nn.Module, weights: Mapping[str, Tensor]) -> None:
    """Copy `weights` into the model's floating tensors in place (cast to each one's dtype and device)."""
    for name, target in _targets(model, weights).items():
        target.copy_(weights[name])


@contextmanager
def swapped(model: nn.Module, weights: Mapping[str, Tensor] | None) -> Iterator[None]:
    """Inside the block the model holds `weights` (None: its own); its own come back bit for bit after."""
    if weights is None:
        yield
        return
    with torch.no_grad():
        saved = {name: t.detach().clone() for name, t in _targets(model, weights).items()}
    try:
        copy_into(model, weights)
        yield
    finally:
        copy_into(model, saved)


def weight_sets(state: Mapping[str, Any]) -> dict[str, dict[str, Tensor]]:
    """The named weight sets that a checkpoint's callbacks keep (framework.callback.WEIGHT_SETS)."""
    found: dict[str, dict[str, Tensor]] = {}
    for observer in state.get("observers", []):
        if isinstance(observer, dict):
            found.update(observer.get(WEIGHT_SETS, {}))
    return found


def use_weights(model: nn.Module, state: Mapping[str, Any], name: str) -> None:
    """Put the checkpoint's weight set `name` into `model` (`model`: keep the trained weights)."""
    if name == TRAINED:
        return
    sets = weight_sets(state)
    if name not in sets:
        kept = ", ".join([TRAINED, *sets])
        raise PlaitError(
            f"weights={name}: this checkpoint keeps no such weights (it has: {kept}); "
            f"a run keeps `ema` weights when trained with callback=[ema]"
        )
    copy_into(model, sets[name])


def average(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The uniform average of model state_dicts: summed in fp32 (fp64 for fp64 tensors), cast back to each dtype.

    Integer tensors (step counters) are taken from the last state.
    """
    if not states:
        raise PlaitError("nothing to average")
    keys = list(states[-1])
    if any(list(s) != keys for s in states):
        raise PlaitError("the checkpoints hold different model weights (another model?); cannot average them")
    out: dict[str, Tensor] = {}
    for key in keys:
        last = states[-1][key]
        if not last.is_floating_point():
            out[key] = last.clone()
            continue
        wide = torch.float64 if last.dtype == torch.float64 else torch.float32
        total = torch.zeros(last.shape, dtype=wide, device=last.device)
        for s in states:
            total += s[key].to(wide)
        out[key] = (total / len(states)).to(last.dtype)
    return out
