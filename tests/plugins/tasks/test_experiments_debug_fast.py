"""`experiment=<name> debug=fast` on the miniature data layout: trains, evaluates, saves, reloads (one step
compared) and answers through the task's inference command, for one experiment of each task kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_experiments import fake_data_root

from framework.engine.run import train
from framework.testing import compose

SMALL_EXPERIMENTS = {  # one per inference command
    "sst2_lstm_glove": "predict",
    "shakespeare_char_gpt": "generate",
    "multi30k_gru_attention": "translate",
    "babi_1k_joint": "answer",
}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(SMALL_EXPERIMENTS))
def test_debug_fast_runs_every_check(experiment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_data_root(tmp_path / "data")
    overrides = [f"experiment={experiment}", "debug=fast", f"data_root={root}", "trainer.device=cpu"]
    overrides.append("trainer.batch_size=4")  # the miniature splits hold a few dozen examples
    result = train(compose(overrides, quick=False), tmp_path / "run")
    err = capsys.readouterr().err
    assert result.checkpoint is not None and result.checkpoint.name == "step_0000003"
    assert any(key.startswith("val/") for key in result.metrics)
    assert "verify_reload: passed; step 3 reloaded from step_0000003" in err
    assert f"verify_predict: passed; plait {SMALL_EXPERIMENTS[experiment]} answered" in err
