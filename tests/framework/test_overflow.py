"""amp_fp16 with an injected inf gradient: the step is skipped, the scale halves, the scheduler waits."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from framework.callback import Callback, TrainState
from framework.engine.build import build
from framework.testing import compose


class WeightSnapshots(Callback):
    """Copies one parameter after every step."""

    def __init__(self, param: torch.Tensor) -> None:
        self.param = param
        self.by_step: dict[int, torch.Tensor] = {}

    def on_step_end(self, state: TrainState) -> None:
        self.by_step[state.step] = self.param.detach().clone()


def test_inf_gradient_skips_step_and_backs_off(tmp_path: Path) -> None:
    overrides = ["precision=amp_fp16", "precision.init_scale=1024", "trainer.max_steps=4", "scheduler=constant"]
    cfg = compose([*overrides, "trainer.log_every_n_steps=1", "trainer.eval_every_n_steps=0"])
    built = build(cfg, tmp_path)
    model = built.model
    backward_calls = {"n": 0}

    def poison(grad: torch.Tensor) -> torch.Tensor:
        backward_calls["n"] += 1
        return grad * float("inf") if backward_calls["n"] == 3 else grad  # step 3 overflows

    model.head.weight.register_hook(poison)
    snapshots = WeightSnapshots(model.head.weight)
    built.callbacks.append(snapshots)
    scheduler = built.scheduler
    built.trainer().fit()

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "train/loss" in r]
    assert [r["precision/loss_scale"] for r in train_rows] == [1024.0, 1024.0, 512.0, 512.0]
    assert [r["precision/skipped_steps"] for r in train_rows] == [0.0, 0.0, 1.0, 1.0]
    assert scheduler.last_epoch == 3  # 4 optimizer steps, one skipped: the scheduler stepped 3 times
    assert torch.equal(snapshots.by_step[2], snapshots.by_step[3])  # the skipped step changed nothing
    assert not torch.equal(snapshots.by_step[3], snapshots.by_step[4])
