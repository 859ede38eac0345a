"""debug=overfit (trainer.overfit_batches): one fixed batch, repeated; the main job fits it, a model whose output
ignores its input cannot, and the run says so (a PlaitError, exit status 2) with the loss curve written."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from cli_runs import run_cli
from torch import Tensor, nn

from framework import MODELS, ComponentConfig, TaskSpec
from framework.engine.overfit import CURVE_FILE, repeat_first, sparkline
from framework.engine.run import train
from framework.testing import compose

SMALL_DATA = ["task.demo_size=300", "tokenizer.vocab_size=200", "precision=fp32", "trainer.device=cpu"]


@dataclass
class InputBlindConfig(ComponentConfig):
    """No options: the model has one bias per class."""


class InputBlind(nn.Module):
    """Class logits that are the same for every input: it can learn the label frequencies, never one batch."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_classes))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.bias.expand(input_ids.shape[0], -1)


def build_input_blind(cfg: InputBlindConfig, *, spec: TaskSpec) -> InputBlind:
    """The test's model that cannot overfit."""
    return InputBlind(spec.n_classes or 2)


@pytest.fixture
def input_blind_model() -> Iterator[None]:
    """`model=input_blind_test` for one test only: registered models are global, and the model contract suite
    runs every registered model (this one fits none of its task kinds)."""
    MODELS.register("input_blind_test", config=InputBlindConfig)(build_input_blind)
    yield
    MODELS._entries.pop("input_blind_test", None)


def test_repeat_first_hands_out_the_same_batches_at_the_start_position() -> None:
    def stream():  # type: ignore[no-untyped-def]
        for i in range(100):
            yield f"batch{i}", 0, i + 1

    got = list(zip(range(7), repeat_first(stream(), 2), strict=False))
    assert [item for _, item in got] == [("batch0", 0, 0), ("batch1", 0, 0)] * 3 + [("batch0", 0, 0)]


def test_sparkline_is_tallest_at_the_highest_loss() -> None:
    line = sparkline([1.0, 0.1, 0.01])
    assert line[0] == "█" and line[-1] == "▁" and len(line) == 3


def curve(run_dir: Path) -> list[tuple[int, float]]:
    with (run_dir / CURVE_FILE).open(encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [(int(step), float(loss)) for step, loss in rows]


@pytest.mark.slow
def test_the_main_job_fits_one_batch_within_200_steps(tmp_path: Path) -> None:
    # the main job's model, optimizer, schedule and batch; a smaller generated corpus (the tokenizer trains faster)
    cfg = compose(["debug=overfit", "trainer.device=cpu", "logger=[jsonl]", "task.demo_size=1000"], quick=False)
    result = train(cfg, tmp_path / "run")
    losses = curve(tmp_path / "run")
    assert result.stopped == "overfit" and losses[-1][0] <= 200
    assert min(loss for _, loss in losses) < 0.05 < losses[0][1]


@pytest.mark.slow
def test_a_model_that_ignores_its_input_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], input_blind_model: None
) -> None:
    args = ["debug=overfit", "model=input_blind_test", "trainer.max_steps=40", *SMALL_DATA, "hydra.run.dir=run"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2, out
    assert (
        "overfit check failed: the training loss on 1 fixed batch(es) never fell below trainer.overfit_loss=0.05" in out
    )
    losses = curve(tmp_path / "run")
    # a batch of one class would be fit by the bias alone: a loss that stays high means several classes
    assert len(losses) == 40 and min(loss for _, loss in losses) > 0.5
