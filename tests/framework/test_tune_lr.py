"""`plait tune lr`: the range test on a problem with a known answer, and that it leaves weights, optimizer
state and run directories as they were."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from framework.engine.lr_finder import LRRange, find_lr, range_test, steepest_descent
from framework.engine.tuning import Stepper
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from framework.task import CLASSIFICATION, Batch, Partials, Task, TaskSpec, TokenizerFactory

CURVATURE = 10.0  # λ: SGD on λ/2·|w|² diverges above lr = 2/λ


class Quadratic(Task):
    """Loss λ/2·|w|² of the model's weight vector, whatever the batch: plain SGD diverges for lr > 2/λ."""

    def setup(self, tokenizer_factory: TokenizerFactory | None = None) -> TaskSpec:
        return TaskSpec(kind=CLASSIFICATION)

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        pass

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        for _ in range(4):
            yield Batch({"x": torch.zeros(batch_size, 1)}, n_samples=batch_size, n_tokens=batch_size)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return 0.5 * CURVATURE * model.w.pow(2).sum()  # type: ignore[operator]

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        return {"loss_sum": self.loss(model, batch), "n": 1}

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        return {"loss": float(sum(p["loss_sum"] for p in partials))}


class Weights(nn.Module):
    """Just a weight vector."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1.0, 1.0, 16))


def quadratic_stepper(optimizer: str = "sgd") -> Stepper:
    load_plugins()
    model = Weights()
    opt = torch.optim.SGD(model.parameters(), lr=0.1) if optimizer == "sgd" else torch.optim.AdamW(model.parameters())
    precision = PRECISIONS.build({"_name_": "fp32"})
    return Stepper(model, Quadratic(), precision, opt, torch.device("cpu"), batch_size=4)


def test_sgd_on_a_quadratic_suggests_a_rate_below_the_divergence_threshold_and_within_100x() -> None:
    curve = find_lr(quadratic_stepper(), LRRange(min_lr=1e-6, max_lr=10.0, steps=100))
    threshold = 2 / CURVATURE
    assert curve.suggestion is not None
    assert threshold / 100 < curve.suggestion < threshold, (curve.suggestion, threshold)
    assert curve.stopped.startswith("diverged")  # it stopped on divergence, not at max_lr
    assert curve.lrs[-1] > threshold  # and only after passing the threshold
    assert len(curve.lrs) < 100


def test_the_range_test_restores_weights_and_optimizer_state() -> None:
    stepper = quadratic_stepper("adamw")
    stepper.step(stepper.batches())  # some optimizer state to keep
    before_w = stepper.model.state_dict()["w"].clone()
    before_opt = {k: v.clone() for k, v in stepper.optimizer.state[stepper.model.w].items()}
    lr_before = stepper.optimizer.param_groups[0]["lr"]
    curve = find_lr(stepper, LRRange(steps=30))
    assert len(curve.lrs) > 5
    assert torch.equal(stepper.model.state_dict()["w"], before_w)
    after_opt = stepper.optimizer.state[stepper.model.w]
    assert all(torch.equal(after_opt[k], v) for k, v in before_opt.items())
    assert stepper.optimizer.param_groups[0]["lr"] == lr_before


def test_no_suggestion_when_the_loss_never_falls() -> None:
    lrs = [10 ** (-i / 10) for i in range(20)][::-1]
    assert steepest_descent(lrs, [1.0 + 0.01 * i for i in range(20)], 0.1) is None


@pytest.mark.parametrize(("option", "value"), [("min_lr", 0.0), ("steps", 3), ("diverge", 0.5), ("window", 4)])
def test_bad_settings_name_the_option(option: str, value: float) -> None:
    from framework.errors import PlaitError

    with pytest.raises(PlaitError, match=option):
        range_test(lambda: 1.0, torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0), LRRange(**{option: value}))


@pytest.mark.parametrize("precision", ["fp64_master", "amp_fp16"])
def test_a_built_run_is_restored_exactly_master_weights_and_loss_scale_included(
    precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.engine.tuning import tuning_build
    from framework.testing import compose

    monkeypatch.setenv("PLAIT_CACHE_DIR", str(tmp_path / "cache"))
    small = ["tokenizer=char", "model.d_model=16", "model.n_heads=2", "model.d_ff=32", "model.n_layers=1"]
    with tuning_build(compose([*small, f"precision={precision}", "trainer.batch_size=4"])) as built:
        stepper = Stepper.of(built)
        stepper.step(stepper.batches())  # optimizer moments and a loss-scale history to keep
        model = {k: v.clone() for k, v in built.model.state_dict().items()}
        strategy = copy.deepcopy(built.precision.state_dict())
        curve = find_lr(stepper, LRRange(steps=15, max_lr=1.0))
        assert len(curve.lrs) > 5
        assert all(torch.equal(v, model[k]) for k, v in built.model.state_dict().items())
        assert_same(built.precision.state_dict(), strategy)


def assert_same(a: object, b: object) -> None:
    """Equal nested state: tensors by value, everything else by ==."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, Tensor):
        assert isinstance(b, Tensor) and torch.equal(a, b)
    else:
        assert a == b
