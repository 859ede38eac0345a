"""The model summary: parameters per top-level module (tied weights once, frozen ones apart), bytes by dtype, and
training FLOPs per token measured on a meta copy, which for the causal transformer equal the 6 x parameters rule
plus attention's 12 x layers x d_model x context; describe and compare read the JSON."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from framework.engine.model_summary import (
    SUMMARY_FILE,
    read_summary,
    summarize_model,
    summary_lines,
    training_flops,
    write_summary,
)
from framework.task import LANGUAGE_MODELING, Batch, model_device
from framework.testing.models import build_model


def lm_loss(ids: torch.Tensor):
    """Next-token cross-entropy of a model on `ids`, moved to the model's device (meta or real)."""

    def loss(model: nn.Module) -> torch.Tensor:
        on = ids.to(model_device(model))
        logits = model(on[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1).float(), on[:, 1:].flatten())

    return loss


def test_decoder_flops_per_token_are_six_params_plus_attention_within_ten_percent() -> None:
    layers, width, context = 2, 64, 64
    model = build_model(
        "transformer_decoder", LANGUAGE_MODELING, d_model=width, n_layers=layers, n_heads=4, d_ff=4 * width,
        max_length=context, positional="rope",
    )  # fmt: skip
    params = sum(p.numel() for p in model.parameters())  # the head is tied to the embedding: counted once
    ids = torch.randint(0, 50, (2, context + 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flops, where = training_flops(model, lm_loss(ids))
    per_token = flops / (2 * context)
    expected = 6 * params + 12 * layers * width * context
    assert where == "meta"
    assert abs(per_token - expected) / expected < 0.10, (per_token, expected)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is untouched
    assert all(p.grad is None for p in model.parameters())


class Frozen(nn.Module):
    """An embedding tied to a head, and a frozen encoder: what a fine-tune with a frozen backbone looks like."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.encoder = nn.Linear(4, 4)
        self.encoder.requires_grad_(False)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids)))


class NoMetaTask:
    """A task whose loss reads a value back (`.item()`), which a meta tensor cannot give: counted for real."""

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0):
        random.random(), np.random.rand()  # a task drawing from the global streams: they must be restored
        yield Batch({"ids": torch.randint(0, 10, (batch_size, 5))}, n_samples=batch_size, n_tokens=batch_size * 5)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        out = model(batch["ids"])
        return out.sum() * (1.0 if out.sum().item() else 1.0)


def test_summary_counts_tied_weights_once_and_frozen_apart_and_falls_back_to_the_real_model() -> None:
    model = Frozen()
    rng = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    summary = summarize_model(model, NoMetaTask(), batch_size=3)  # type: ignore[arg-type]
    rows = {r["module"]: r for r in summary["modules"]}
    assert rows["embed"] == {"module": "embed", "parameters": 40, "trainable": 40, "frozen": 0}
    assert rows["encoder"] == {"module": "encoder", "parameters": 20, "trainable": 0, "frozen": 20}
    assert rows["head"]["parameters"] == 0  # its weight is the embedding's
    assert (summary["parameters"], summary["trainable"], summary["frozen"]) == (60, 40, 20)
    assert summary["bytes_by_dtype"] == {"float32": 240, "int64": 8}
    assert summary["flops_counted_on"] == "real"
    encoder, head = 2 * 15 * 4 * 4, 2 * 15 * 4 * 10  # 2 FLOPs per multiply-add, 15 tokens
    forward, backward = encoder + head, encoder + 2 * head  # the frozen encoder's weight gets no gradient
    assert summary["flops_per_batch"] == forward + backward == 4560
    assert summary["flops_per_token"] == summary["flops_per_batch"] / 15
    assert torch.equal(torch.get_rng_state(), rng[0]) and random.getstate() == rng[1] and model.training
    assert (np.random.get_state()[1] == rng[2]).all()
    assert all(p.grad is None for p in model.parameters())
    assert "6 x parameters: 360" in summary_lines(summary)[-1]


def test_a_loss_that_cannot_run_leaves_a_summary_saying_why() -> None:
    class Broken(NoMetaTask):
        def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
            raise ValueError("no loss here")

    summary = summarize_model(Frozen(), Broken(), batch_size=2)  # type: ignore[arg-type]
    assert "flops_per_token" not in summary and "no loss here" in summary["flops_error"]
    assert "not measured (ValueError: no loss here)" in summary_lines(summary)[-1]


@pytest.fixture
def summarized_run(tmp_path: Path) -> Path:
    """A run directory as `plait train` leaves it, with the summary of a small model."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("objective: val/loss\nprecision: {_name_: fp32}\n")
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/loss": 2.0, "val/loss": 1.5}) + "\n")
    write_summary(summarize_model(Frozen()), run_dir)
    return run_dir


def test_describe_shows_the_summary_without_importing_torch(summarized_run: Path) -> None:
    script = (
        "import sys; from framework.cli import main; main(['describe', sys.argv[1]]); print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(summarized_run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "False"
    assert any(line.startswith("model") and "parameters" in line for line in lines)
    assert any(line.split()[:4] == ["total", "60", "40", "20"] for line in lines)


def test_compare_shows_parameters_and_flops(summarized_run: Path, tmp_path: Path) -> None:
    from framework.cli.compare import summarize, table

    row = table([summarize(summarized_run)])[0]
    assert (row["params"], row["trainable"], row["FLOPs/token"]) == ("60", "40", "-")
    assert read_summary(tmp_path) is None and (summarized_run / SUMMARY_FILE).is_file()
