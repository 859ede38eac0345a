"""Precision strategies: PrecisionContract, the checks every strategy passes training the toy regression."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor, nn

from framework.errors import UnsupportedPrecisionError
from framework.kinds import PRECISIONS
from framework.testing.components import build_component, check_documented
from framework.testing.toy_regression import toy_loss, toy_model


def _flat(state: Any) -> Any:
    """A comparable form of a state dict (tensors as lists)."""
    if isinstance(state, dict):
        return {k: _flat(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return [_flat(v) for v in state]
    if isinstance(state, Tensor):
        return state.tolist()
    return state


class PrecisionContract:
    """Checks for a precision strategy on CPU (skipped when the device cannot run it): a training step through
    setup/autocast/backward/step, the model's output stays finite, and its state round-trips."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    device: ClassVar[str] = "cpu"

    def setup(self) -> tuple[Any, nn.Module, torch.optim.Optimizer]:
        """(strategy, model on the device, optimizer over the strategy's optimizer target)."""
        strategy = build_component(PRECISIONS, self.key, self.config)
        try:
            model = strategy.setup(toy_model(), torch.device(self.device))
        except UnsupportedPrecisionError as exc:
            pytest.skip(f"{self.key} cannot run on {self.device}: {exc}")
        optimizer = torch.optim.AdamW(strategy.optimizer_target(model).parameters(), lr=1e-2)
        return strategy, model, optimizer

    def _train(self, strategy: Any, model: nn.Module, optimizer: torch.optim.Optimizer, n: int) -> list[float]:
        """`n` steps through autocast/backward/step; the losses."""
        losses = []
        for _ in range(n):
            with strategy.autocast():
                loss = toy_loss(model)
            strategy.backward(loss)
            stepped = strategy.step(optimizer, 1.0, measure=True)
            assert isinstance(stepped, bool)
            losses.append(float(loss.detach()))
        return losses

    def test_training_steps_run_and_stay_finite(self) -> None:
        strategy, model, optimizer = self.setup()
        losses = self._train(strategy, model, optimizer, 8)
        assert all(loss == loss and abs(loss) != float("inf") for loss in losses), losses
        assert all(isinstance(v, float | int) for v in strategy.metrics().values())

    def test_state_round_trip(self, tmp_path: Path) -> None:
        strategy, model, optimizer = self.setup()
        self._train(strategy, model, optimizer, 3)
        torch.save(strategy.state_dict(), tmp_path / "precision.pt")
        fresh, _, _ = self.setup()
        fresh.load_state_dict(torch.load(tmp_path / "precision.pt", weights_only=True))
        assert _flat(fresh.state_dict()) == _flat(strategy.state_dict())

    def test_options_are_documented(self) -> None:
        check_documented(PRECISIONS, self.key)
