"""Master weights: a high-precision copy of the model that the optimizer updates (fp16_master, fp64_master).

The model computes in its (lower) dtype; after each backward its gradients are moved into the
master's gradients (so accumulation over micro-batches happens in the master dtype); after each
update the master values are copied back into the model.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn


class MasterWeights:
    """A copy of `model` in `dtype` (made before the model is cast down, so no precision is lost)."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        self.module = copy.deepcopy(model)
        for p in self.module.parameters():
            p.data = p.data.to(dtype)
        self.dtype = dtype
        self._model_params: list[Tensor] = []

    def bind(self, model: nn.Module) -> None:
        """Pair the (cast) model's parameters with the master's, in the same order."""
        self._model_params = list(model.parameters())
        if len(self._model_params) != len(list(self.module.parameters())):
            raise RuntimeError("master weights and model disagree on their parameters")
        self.copy_to_model()

    def _pairs(self) -> zip[tuple[Tensor, nn.Parameter]]:
        return zip(self._model_params, self.module.parameters(), strict=True)

    @torch.no_grad()
    def accumulate_grads(self) -> None:
        """Add the model's gradients into the master gradients (in the master dtype) and clear the model's."""
        for low, high in self._pairs():
            if low.grad is None:
                continue
            if high.grad is None:
                high.grad = low.grad.to(high.dtype)
            else:
                high.grad.add_(low.grad.to(high.dtype))
            low.grad = None

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Write the master values into the model (rounded to its dtype)."""
        for low, high in self._pairs():
            low.copy_(high)

    def state_dict(self) -> dict[str, Any]:
        """The master parameters (the authoritative weights)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the master parameters and refresh the model from them."""
        self.module.load_state_dict(state)
        self.copy_to_model()
