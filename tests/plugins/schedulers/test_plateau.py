"""scheduler=plateau: lowers the lr on a flat metric after `patience` evaluations, never during warmup, respects
cooldown and the floor, resumes exactly; the trainer feeds it each validation."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from toy_training import ToyNet, ToyTask, toy_config

from framework.engine.build import build
from framework.errors import PlaitError
from framework.kinds import SCHEDULERS
from framework.testing.components import build_component

LR = 0.1


def plateau(**options: Any) -> tuple[Any, torch.optim.Optimizer]:
    """A plateau schedule over a one-parameter SGD at LR, and its optimizer."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    return build_component(SCHEDULERS, "plateau", options, optimizer=optimizer, max_steps=100), optimizer


def lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def steps(scheduler: Any, optimizer: torch.optim.Optimizer, n: int) -> None:
    for _ in range(n):
        optimizer.step()
        scheduler.step()


def test_a_flat_metric_lowers_the_rate_after_patience_evaluations() -> None:
    scheduler, optimizer = plateau(patience=2, factor=0.5)
    seen = []
    for _ in range(7):
        steps(scheduler, optimizer, 10)
        scheduler.observe({"val/loss": 1.0, "val/accuracy": 0.5})
        seen.append(lr(optimizer))
    # the first value is the best; 3 flat ones (> patience 2) halve the rate; the counter starts again
    assert seen == pytest.approx([LR, LR, LR, LR / 2, LR / 2, LR / 2, LR / 4])


def test_an_improving_metric_keeps_the_rate() -> None:
    scheduler, optimizer = plateau(patience=0)
    for loss in (1.0, 0.9, 0.8, 0.7):
        steps(scheduler, optimizer, 5)
        scheduler.observe({"val/loss": loss})
    assert lr(optimizer) == LR


def test_never_during_warmup() -> None:
    scheduler, optimizer = plateau(warmup_steps=20, patience=0, factor=0.5)
    for step in range(1, 20):  # an evaluation after every warmup step, the metric flat throughout
        steps(scheduler, optimizer, 1)
        scheduler.observe({"val/loss": 1.0})
        assert lr(optimizer) == pytest.approx(LR * min(1.0, (step + 1) / 20)), step
    assert scheduler.scale == 1.0 and scheduler.best is None
    steps(scheduler, optimizer, 1)  # warmup done: evaluations count from here
    scheduler.observe({"val/loss": 1.0})  # the first one sets the best
    assert lr(optimizer) == LR
    scheduler.observe({"val/loss": 1.0})
    assert lr(optimizer) == LR / 2


def test_cooldown_and_the_floor() -> None:
    scheduler, optimizer = plateau(patience=0, factor=0.5, cooldown=2, min_lr_ratio=0.2)
    seen = []
    for _ in range(9):
        steps(scheduler, optimizer, 3)
        scheduler.observe({"val/loss": 1.0})
        seen.append(lr(optimizer) / LR)
    # best, reduce, 2 cooldown evaluations, reduce (0.25), cooldown x2, then the floor 0.2 (not 0.125)
    assert seen == pytest.approx([1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2])


def test_mode_max_and_the_relative_threshold() -> None:
    scheduler, optimizer = plateau(monitor="val/accuracy", mode="max", patience=0, threshold=0.1)
    scheduler.observe({"val/accuracy": 0.5})
    scheduler.observe({"val/accuracy": 0.6})  # +20%: better
    assert lr(optimizer) == LR
    scheduler.observe({"val/accuracy": 0.65})  # +8% < 10%: not an improvement
    assert lr(optimizer) == LR / 2 and scheduler.best == 0.6


def test_a_monitor_the_evaluation_lacks_lists_what_it_logs() -> None:
    scheduler, _ = plateau(monitor="val/bleu")
    with pytest.raises(PlaitError, match=r"scheduler.monitor=val/bleu .* it logs: val/loss, val/accuracy"):
        scheduler.observe({"val/loss": 1.0, "val/accuracy": 0.5})


def test_state_dict_round_trip_resumes_identically() -> None:
    metrics = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.8, 0.85, 0.86, 0.87, 0.88]
    options = {"warmup_steps": 5, "patience": 1, "cooldown": 1, "factor": 0.5, "min_lr_ratio": 0.1}

    def run(scheduler: Any, optimizer: torch.optim.Optimizer, values: list[float]) -> list[float]:
        out = []
        for value in values:
            steps(scheduler, optimizer, 2)
            scheduler.observe({"val/loss": value})
            out.append(lr(optimizer))
        return out

    straight = run(*plateau(**options), metrics)
    first, optimizer = plateau(**options)
    head = run(first, optimizer, metrics[:5])
    state = first.state_dict()
    assert {"scale", "best", "bad_evals", "cooldown_left", "last_epoch"} <= set(state) and "cfg" not in state
    buffer = io.BytesIO()
    torch.save({"sched": state, "opt": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # as checkpoints load
    second, optimizer = plateau(**options)
    optimizer.load_state_dict(saved["opt"])
    second.load_state_dict(saved["sched"])
    assert head + run(second, optimizer, metrics[5:]) == straight
    assert min(straight) < LR  # the sequence did reduce


def _plateau_run(run_dir: Path, max_steps: int, *, resume: bool = False) -> Any:
    """A toy run validated every 2 steps, plateau after 3 warmup steps on a loss that never improves enough
    (a relative threshold of 100%); returns its trainer after fit()."""
    cfg = toy_config("fp32", max_steps=max_steps, eval_every_n_steps=2, checkpoint_every_n_steps=6)
    cfg["trainer"]["resume"] = "auto" if resume else None
    cfg["scheduler"] = {"_name_": "plateau", "warmup_steps": 3, "patience": 0, "factor": 0.5, "threshold": 1.0}
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = build(cfg, run_dir, task=ToyTask(), model_factory=lambda spec: ToyNet()).trainer()
    trainer.fit()
    return trainer


def _rows(trainer: Any, key: str) -> dict[int, float]:
    return {int(row["step"]): row[key] for row in trainer.history if key in row}


def test_the_trainer_feeds_each_validation_and_resume_is_exact(tmp_path: Path) -> None:
    straight = _plateau_run(tmp_path / "straight", 12)
    lrs = _rows(straight, "train/lr")
    # validation at step 2 falls in warmup; 4 sets the best; 6, 8, 10 each halve the lr of the steps after them
    assert lrs[2] == lrs[4] == lrs[6] == pytest.approx(3e-3)
    assert lrs[7] == lrs[8] == pytest.approx(1.5e-3)
    assert lrs[9] == pytest.approx(7.5e-4) and lrs[11] == lrs[12] == pytest.approx(3.75e-4)
    assert straight.state_dict()["scheduler"]["scale"] == 0.0625  # the validation at 12 reduced it once more

    _plateau_run(tmp_path / "killed", 6)  # stops at the checkpoint of step 6, as a killed run would have
    resumed = _plateau_run(tmp_path / "killed", 12, resume=True)
    for key in ("train/lr", "train/loss", "val/loss"):
        assert _rows(resumed, key) == {s: v for s, v in _rows(straight, key).items() if s > 6}, key
    assert resumed.state_dict()["scheduler"] == straight.state_dict()["scheduler"]
