"""`plait average`: the mean of a run's last (or best) N checkpoints, written as a checkpoint every command opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from framework.cli.commands import average as average_command
from framework.cli.commands import eval as eval_command
from framework.engine.checkpoint import is_complete, list_checkpoints, load_resume, load_state
from framework.engine.weights import average
from framework.errors import PlaitError
from framework.testing import run_quick

SMALL = ["precision=fp32", "tokenizer=char", "model.d_model=16", "model.n_heads=2", "model.d_ff=32", "model.n_layers=1"]
RUN = [*SMALL, "task.demo_size=200", "trainer.checkpoint_every_n_steps=2", "trainer.keep_last_checkpoints=0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run with checkpoints at steps 2, 4 and 6."""
    directory = tmp_path_factory.mktemp("average") / "run"
    run_quick(RUN, directory)
    return directory


def test_average_last_3_is_the_mean_and_eval_opens_it(run: Path, capsys: pytest.CaptureFixture) -> None:
    average_command.main([str(run), "--last", "3"])
    out = capsys.readouterr().out
    assert "step_0000002, step_0000004, step_0000006" in out and "averaged_last3" in out
    written = run / "checkpoints" / "averaged_last3"
    assert is_complete(written) and (written / "tokenizer").is_dir()

    states = [load_state(p)["model"] for p in list_checkpoints(run / "checkpoints")]
    averaged = load_state(written)
    assert averaged["averaged"]["steps"] == [2, 4, 6] and averaged["step"] == 6 and "optimizer" not in averaged
    for name, value in averaged["model"].items():
        mean = sum(s[name].double() for s in states) / 3
        torch.testing.assert_close(value.double(), mean, rtol=0, atol=1e-6)
    assert not torch.equal(averaged["model"]["head.weight"], states[-1]["head.weight"])

    eval_command.main([str(run), "split=val", "checkpoint=averaged_last3"])
    result = json.loads((written / "eval_val.json").read_text())
    assert result["checkpoint"] == str(written)
    assert list_checkpoints(run / "checkpoints")[-1].name == "step_0000006"  # never a training checkpoint
    with pytest.raises(PlaitError, match="averaged weights for inference"):
        load_resume(str(written), run)


def test_key_value_form_and_a_chosen_name(run: Path) -> None:
    average_command.main([str(run), "last=2", "name=mean_of_two"])
    assert load_state(run / "checkpoints" / "mean_of_two")["averaged"]["steps"] == [4, 6]


def test_clear_errors(run: Path, tmp_path: Path) -> None:
    with pytest.raises(PlaitError, match="keeps 3 checkpoint.*keep_last_checkpoints=0"):
        average_command.main([str(run), "--last", "5"])
    with pytest.raises(PlaitError, match="names no best checkpoints.*keep_best_checkpoints=2"):
        average_command.main([str(run), "--best", "2"])
    with pytest.raises(PlaitError, match="exactly one of last=N or best=N"):
        average_command.main([str(run)])
    with pytest.raises(PlaitError, match="plain directory name"):
        average_command.main([str(run), "last=2", "name=step_0000009"])
    with pytest.raises(PlaitError, match="checkpoint=nothing: no complete checkpoint"):
        eval_command.main([str(run), "checkpoint=nothing"])


def test_best_reads_the_runs_ranking(run: Path) -> None:
    ranked = [{"step": 4, "value": 0.5}, {"step": 2, "value": 0.6}, {"step": 6, "value": 0.7}]
    pointer = run / "checkpoints" / "best.json"
    pointer.write_text(json.dumps({"checkpoint": "step_0000004", "ranked": ranked}))
    try:
        average_command.main([str(run), "--best=2"])
    finally:
        pointer.unlink()
    assert load_state(run / "checkpoints" / "averaged_best2")["averaged"]["steps"] == [4, 2]


def test_average_accumulates_in_fp32_and_keeps_dtypes() -> None:
    states = [
        {"w": torch.full((4,), v, dtype=torch.bfloat16), "n": torch.tensor(i)}
        for i, v in enumerate([1.0, 1.0078125, 1.0078125])
    ]
    out = average(states)
    assert out["w"].dtype == torch.bfloat16 and out["n"].item() == 2
    assert out["w"][0].item() == 1.0078125  # 1.00520..., rounded once to bf16 (summing in bf16 would drift)
    with pytest.raises(PlaitError, match="different model weights"):
        average([{"a": torch.zeros(1)}, {"b": torch.zeros(1)}])
