"""Optimizers: OptimizerContract, the checks every optimizer factory passes on the toy regression."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from framework.kinds import OPTIMIZERS
from framework.testing.components import build_component, check_documented
from framework.testing.toy_regression import toy_model, toy_steps


class OptimizerContract:
    """Checks for an optimizer factory (`factory(cfg, *, model)`): every trainable parameter in exactly one
    group, the loss falls on a toy regression, and state_dict resume continues exactly."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    steps: ClassVar[int] = 40

    def build(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer under test over `model`'s parameters."""
        return build_component(OPTIMIZERS, self.key, self.config, model=model)

    def test_every_trainable_parameter_in_exactly_one_group(self) -> None:
        model = toy_model()
        next(model.parameters()).requires_grad_(False)
        grouped = [id(p) for group in self.build(model).param_groups for p in group["params"]]
        assert len(grouped) == len(set(grouped)), "a parameter appears in two groups"
        assert set(grouped) == {id(p) for p in model.parameters() if p.requires_grad}

    def test_loss_falls(self) -> None:
        model = toy_model()
        losses = toy_steps(model, self.build(model), self.steps)
        assert losses[-1] < 0.9 * losses[0], f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"

    def test_resume_continues_exactly(self, tmp_path: Path) -> None:
        straight = toy_model()
        toy_steps(straight, self.build(straight), 6)

        first = toy_model()
        opt_first = self.build(first)
        toy_steps(first, opt_first, 3)
        torch.save({"model": first.state_dict(), "opt": opt_first.state_dict()}, tmp_path / "ckpt.pt")
        resumed = toy_model(seed=5)
        opt_resumed = self.build(resumed)
        state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
        resumed.load_state_dict(state["model"])
        opt_resumed.load_state_dict(state["opt"])
        toy_steps(resumed, opt_resumed, 3)
        for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

    def test_options_are_documented(self) -> None:
        check_documented(OPTIMIZERS, self.key)
