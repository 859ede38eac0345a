"""The trainer's numerics: overflow steps are skipped (not scheduled), divergence aborts with a named module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_training import toy_trainer

from framework.callback import Callback, TrainState
from framework.engine.checkpoint import is_complete, load_resume, load_state
from framework.engine.numerics import REPORT_FILE, DivergenceError


def rows(run_dir: Path) -> dict[int, dict]:
    """Training rows of metrics.jsonl by step."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "train/loss" in row or "train/diverged" in row:
            out[row["step"]] = row
    return out


class WeightLog(Callback):
    """Copies the model's weights after every step."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.after: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, state: TrainState) -> None:
        self.after[state.step] = {k: v.clone() for k, v in self.model.state_dict().items()}


@pytest.mark.parametrize("name", ["amp_fp16", "fp16_master"])
def test_injected_overflow_skips_the_step_and_backs_off(name: str, tmp_path: Path) -> None:
    trainer = toy_trainer({"_name_": name, "init_scale": 1024.0}, tmp_path, spike_steps={3})
    weights = WeightLog(trainer.parts.model)
    trainer.parts.callbacks.append(weights)
    trainer.fit()

    log = rows(tmp_path)
    assert [log[s]["precision/loss_scale"] for s in (1, 2, 3, 4)] == [1024.0, 1024.0, 512.0, 512.0]
    assert [log[s]["precision/skipped_steps"] for s in (2, 3, 6)] == [0.0, 1.0, 1.0]
    assert [log[s]["precision/overflows"] for s in (2, 3, 4)] == [0.0, 1.0, 0.0]
    assert log[3]["train/lr"] == log[2]["train/lr"] != log[4]["train/lr"]  # the scheduler did not step
    assert trainer.parts.scheduler.last_epoch == 5  # 6 steps, one skipped
    for key, value in weights.after[3].items():
        assert torch.equal(value, weights.after[2][key]), key  # the skipped step changed nothing
    assert not torch.equal(weights.after[4]["head.weight"], weights.after[3]["head.weight"])


def test_divergence_at_min_scale_aborts_with_crash_checkpoint_and_module(tmp_path: Path) -> None:
    cfg = {"_name_": "fp16_master", "init_scale": 8.0, "min_scale": 1.0}
    trainer = toy_trainer(cfg, tmp_path, spike_steps=None)  # every gradient is inf
    with pytest.raises(DivergenceError, match=r"minimum loss scale.*module 'spike' \(GradSpike, float16\)"):
        trainer.fit()

    # scales 8, 4, 2, 1 overflow in steps 1-4; the overflow at 1 aborts before step 4 finishes
    report = json.loads((tmp_path / REPORT_FILE).read_text())
    assert report["finding"] == {"module": "spike", "module_type": "GradSpike", "dtype": "float16", "phase": "backward"}
    assert report["step"] == 3
    crash = Path(report["crash_checkpoint"])
    assert crash.parent == tmp_path / "crash" and is_complete(crash)
    assert load_state(crash)["precision"]["scaler"] == {"scale": 1.0, "good_steps": 0, "skipped_steps": 4}
    assert load_resume("auto", tmp_path).path.parent == tmp_path / "checkpoints"  # never the crash checkpoint
    last = rows(tmp_path)[3]
    assert last["train/diverged"] == 1.0 and last["precision/skipped_steps"] == 4.0


def test_every_step_detection_stops_before_the_bad_update(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, spike_steps={2}, detect_anomaly_every_step=True, log_every_n_steps=5)
    with pytest.raises(DivergenceError, match="backward of module 'spike'"):
        trainer.fit()
    crash = load_state(Path(json.loads((tmp_path / REPORT_FILE).read_text())["crash_checkpoint"]))
    assert crash["step"] == 1
    assert all(torch.isfinite(v).all() for v in crash["model"].values())  # weights before the bad update


def test_without_every_step_checks_divergence_is_caught_on_the_logging_step(tmp_path: Path) -> None:
    trainer = toy_trainer("fp32", tmp_path, spike_steps={2}, log_every_n_steps=3)
    with pytest.raises(DivergenceError, match="steps up to 3 is non-finite") as err:
        trainer.fit()
    report = json.loads((tmp_path / REPORT_FILE).read_text())
    assert report["step"] == 3 and report["finding"]["phase"] == "weights"  # the NaN update already landed
    assert "module 'proj'" in str(err.value)


def test_forward_overflow_in_fp16_aborts_at_once(tmp_path: Path) -> None:
    trainer = toy_trainer("fp16_master", tmp_path)
    with torch.no_grad():
        trainer.parts.precision.master.module.proj.weight.fill_(3e4)  # fp16 max is 65504: activations overflow
        trainer.parts.precision.master.copy_to_model()
    with pytest.raises(DivergenceError, match=r"forward overflow.*forward of module 'proj' \(Linear, float16\)"):
        trainer.fit()
