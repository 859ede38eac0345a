"""The core evaluates any task that supplies only a per-batch step and a reduction, under every autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from toy_training import ToyNet, ToyTask

from framework.engine.evaluation import evaluate, to_host
from framework.kinds import PRECISIONS
from framework.plugins import load_plugins
from framework.task import Partials


@pytest.mark.parametrize("precision", ["fp32", "amp_bf16", "amp_fp16"])
def test_a_task_with_only_eval_step_and_reduce_is_evaluated(precision: str) -> None:
    load_plugins()
    torch.manual_seed(0)
    task, strategy = ToyTask(n_val=70), PRECISIONS.build({"_name_": precision})
    model = strategy.setup(ToyNet(), torch.device("cpu")).train()
    seen: list[int] = []

    def gather(partials: list[Partials]) -> list[Partials]:
        seen.append(len(partials))
        return partials

    metrics = evaluate(model, task, "val", precision=strategy, device=torch.device("cpu"), batch_size=16, gather=gather)
    assert seen == [5]  # 70 examples in batches of 16, gathered once before the reduction
    assert model.training  # the model is handed back in the mode it came in
    x, y = task.data["val"]
    with torch.no_grad(), strategy.autocast():
        logits = model.eval()(x).float()
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(-1) == y).float().mean()))
    tolerance = 1e-6 if precision == "fp32" else 2e-2  # batch shapes differ from the one-shot reference
    assert metrics["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=tolerance)


def test_partials_are_moved_off_the_device_and_detached() -> None:
    t = torch.ones(2, requires_grad=True) * 2
    host = to_host({"a": t, "b": [t, 3], "c": (t,)})
    assert not host["a"].requires_grad and host["b"][1] == 3 and isinstance(host["c"], tuple)


def test_one_number_partials_become_python_numbers() -> None:
    # a tiny tensor kept per batch pinned the C heap between batches' freed activations (22 GB at 1 GB of text)
    host = to_host(
        {"loss_sum": torch.tensor(2.5, requires_grad=True) * 2, "count": torch.tensor(7), "v": torch.ones(3)}
    )
    assert host["loss_sum"] == 5.0 and type(host["loss_sum"]) is float and type(host["count"]) is int
    assert isinstance(host["v"], torch.Tensor) and host["v"].shape == (3,)
