"""Master weights: a high-precision copy of the model that the optimizer updates (fp16_master, fp64_master).

The model computes in its (lower) dtype; after each backward its gradients are moved into the
master's gradients (so accumulation over micro-batches happens in the master dtype); after each
update the master values are copied back into the model. Frozen parameters (requires_grad False: frozen
embeddings, the base under adapter=lora) get no master: they stay in the model's dtype only.
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
        for p in self.module.parameters():  # a frozen one keeps an empty placeholder: it is never updated
            p.data = p.data.to(dtype) if p.requires_grad else p.data.new_empty(0, dtype=dtype)
        self.trained = {name for name, p in self.module.named_parameters() if p.requires_grad}
        self.dtype = dtype
        self._model_params: list[Tensor] = []

    def bind(self, model: nn.Module) -> None:
        """Pair the (cast) model's parameters with the master's, in the same order."""
        self._model_params = [p for p in model.parameters() if p.requires_grad]
        if len(self._model_params) != len(self._masters()):
            raise RuntimeError("master weights and model disagree on their parameters")
        self.copy_to_model()

    def _masters(self) -> list[nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def _pairs(self) -> zip[tuple[Tensor, nn.Parameter]]:
        return zip(self._model_params, self._masters(), strict=True)

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
        """The master parameters (the authoritative weights) and buffers; frozen parameters are the model's."""
        frozen = {name for name, _ in self.module.named_parameters()} - self.trained
        return {k: v for k, v in self.module.state_dict().items() if k not in frozen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the master parameters and refresh the model from them (a frozen one in `state`, as checkpoints
        before frozen parameters lost their masters hold, is left out)."""
        frozen = {name for name, _ in self.module.named_parameters()} - self.trained
        missing, unexpected = self.module.load_state_dict(
            {k: v for k, v in state.items() if k not in frozen}, strict=False
        )
        if unexpected or set(missing) - frozen:
            wrong = sorted(set(missing) - frozen) + sorted(unexpected)
            raise RuntimeError(f"the checkpoint's master weights do not fit the model: {', '.join(wrong[:5])}")
        self.copy_to_model()
