"""Schedulers: SchedulerContract, the checks every learning-rate schedule passes on the toy regression."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from framework.kinds import SCHEDULERS
from framework.testing.components import build_component, check_documented
from framework.testing.toy_regression import toy_model, toy_steps


class SchedulerContract:
    """Checks for a scheduler factory (`factory(cfg, *, optimizer, max_steps)`), stepped once per optimizer
    step: learning rates stay finite and non-negative over `max_steps`, and state_dict resume repeats them."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    max_steps: ClassVar[int] = 20

    def build(self, optimizer: torch.optim.Optimizer) -> Any:
        """The scheduler under test over `optimizer`."""
        return build_component(SCHEDULERS, self.key, self.config, optimizer=optimizer, max_steps=self.max_steps)

    def _lrs(self, n: int, state: dict[str, Any] | None = None) -> tuple[list[float], Any, Any]:
        """The learning rates of `n` steps (from `state` when given), with the optimizer and scheduler after them."""
        model = toy_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = self.build(optimizer)
        if state is not None:
            optimizer.load_state_dict(state["opt"])
            scheduler.load_state_dict(state["sched"])
        lrs = []
        for _ in range(n):
            toy_steps(model, optimizer, 1, scheduler)
            lrs.append(optimizer.param_groups[0]["lr"])
        return lrs, optimizer, scheduler

    def test_learning_rates_are_finite_and_non_negative(self) -> None:
        lrs, _, _ = self._lrs(self.max_steps)
        assert all(lr >= 0 and lr == lr and lr != float("inf") for lr in lrs), lrs
        assert max(lrs) > 0, "the schedule never trains"

    def test_resume_repeats_the_schedule(self, tmp_path: Path) -> None:
        straight, _, _ = self._lrs(self.max_steps)
        half = self.max_steps // 2
        _, optimizer, scheduler = self._lrs(half)
        torch.save({"opt": optimizer.state_dict(), "sched": scheduler.state_dict()}, tmp_path / "s.pt")
        rest, _, _ = self._lrs(self.max_steps - half, torch.load(tmp_path / "s.pt", weights_only=False))
        assert rest == pytest.approx(straight[half:], rel=1e-9)

    def test_options_are_documented(self) -> None:
        check_documented(SCHEDULERS, self.key)
