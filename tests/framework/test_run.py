"""End-to-end runs on CPU: the main job learns, every built-in precision trains, resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_training import KillAfterCheckpoint

from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.run import train
from framework.testing import compose, run_quick


def losses(run_dir: Path) -> dict[int, float]:
    """train/loss by step from metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


def final_params(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_state(latest_checkpoint(run_dir / "checkpoints"))["model"]


def test_main_job_learns_well_above_chance(tmp_path: Path) -> None:
    """The default experiment, shortened: 3 classes, so chance is 1/3."""
    cfg = compose(["logger=[jsonl]", "trainer.max_steps=300", "trainer.eval_every_n_steps=300"], quick=False)
    result = train(cfg, tmp_path)
    assert result.objective == result.metrics["val/accuracy"]
    assert result.metrics["val/accuracy"] > 0.6
    assert (tmp_path / "metrics.jsonl").is_file()
    assert result.checkpoint == tmp_path / "checkpoints" / "step_0000300"


@pytest.mark.parametrize("precision", ["fp32", "amp_bf16", "amp_fp16"])
def test_each_builtin_precision_trains_on_cpu(tmp_path: Path, precision: str) -> None:
    result = run_quick([f"precision={precision}", "trainer.max_steps=4"], tmp_path)
    rows = losses(tmp_path)
    assert rows and all(torch.isfinite(torch.tensor(v)) for v in rows.values())
    assert 0.0 <= result.metrics["val/accuracy"] <= 1.0
    if precision == "amp_fp16":
        logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert any("precision/loss_scale" in r for r in logged)


@pytest.mark.parametrize("precision", ["amp_bf16", "amp_fp16"])
def test_resume_is_exact(tmp_path: Path, precision: str) -> None:
    """N steps straight == k steps, stop, trainer.resume=auto to N: same losses, torch.equal weights."""
    common = [
        f"precision={precision}",
        "trainer.max_steps=8",
        "trainer.checkpoint_every_n_steps=4",
        "model.dropout=0.2",
    ]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_quick(common, straight)
    with pytest.raises(KeyboardInterrupt):
        train(compose(common), resumed, callbacks=[KillAfterCheckpoint(4, KeyboardInterrupt)])
    assert latest_checkpoint(resumed / "checkpoints").name == "step_0000004"
    run_quick([*common, "trainer.resume=auto"], resumed)

    assert losses(straight) == losses(resumed)
    a, b = final_params(straight), final_params(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = load_state(latest_checkpoint(resumed / "checkpoints"))
    assert state["step"] == 8 and "tokenizer_sha256" in state and state["plugins"]["model/transformer_encoder"]


def test_resume_from_explicit_checkpoint_path(tmp_path: Path) -> None:
    first = run_quick(["trainer.max_steps=3"], tmp_path / "a")
    result = run_quick(["trainer.max_steps=5", f"trainer.resume={first.checkpoint}"], tmp_path / "b")
    assert result.checkpoint.name == "step_0000005"
    assert (tmp_path / "b" / "tokenizer" / "text" / "tokenizer.json").is_file()
