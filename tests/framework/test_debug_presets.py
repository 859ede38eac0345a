"""The `debug` config group: each option is a preset of real keys, composable with any experiment; debug=fast
trains, evaluates, saves, reloads (one step compared) and predicts, in a temporary run directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runs import run_cli
from omegaconf import OmegaConf

from framework.cli.hydra_app import _compose
from framework.engine import distributed
from framework.engine.run import train
from framework.errors import PlaitError
from framework.plugins import conf_dir
from framework.testing import compose

SMALL = [
    "task.demo_size=300",
    "tokenizer.vocab_size=200",
    "model.d_model=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.d_ff=64",
    "precision=fp32",
    "trainer.device=cpu",
]


def test_the_group_lists_its_options() -> None:
    assert sorted(p.stem for p in (conf_dir() / "debug").glob("*.yaml")) == [
        "fast",
        "limit",
        "none",
        "overfit",
        "profile",
    ]
    assert compose([], quick=False).trainer.verify_reload is False  # debug=none by default


def test_each_option_sets_real_keys() -> None:
    fast = compose(["debug=fast"], quick=False)
    assert fast.trainer.max_steps == 3 and fast.trainer.verify_reload and fast.trainer.verify_predict
    assert list(fast.logger) == ["console"] and fast.task.eval_limit == 64
    overfit = compose(["debug=overfit"], quick=False)
    assert overfit.trainer.overfit_batches == 1 and overfit.trainer.overfit_loss == 0.05
    assert overfit.trainer.max_steps == 200 and overfit.trainer.log_every_n_steps == 1
    limit = compose(["debug=limit"], quick=False)
    assert limit.task.train_limit == 5000 and limit.task.eval_limit == 500
    profile = compose(["debug=profile"], quick=False)
    assert OmegaConf.to_container(profile.trainer.profiler) == {"wait": 2, "warmup": 2, "active": 5}


def test_composes_with_an_experiment_and_the_command_line_wins() -> None:
    cfg = compose(["experiment=sst2_lstm_glove", "debug=fast", "trainer.max_steps=5"], quick=False)
    assert cfg.model._name_ == "lstm" and cfg.trainer.verify_reload and cfg.trainer.max_steps == 5


def test_fast_runs_in_a_temporary_directory_unless_one_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", "/somewhere/tmp")
    cfg = _compose(["debug=fast"], conf_dir(), with_hydra=True)
    assert str(cfg.hydra.run.dir).startswith("/somewhere/tmp/plait-debug/")
    given = _compose(["debug=fast", "hydra.run.dir=mine"], conf_dir(), with_hydra=True)
    assert given.hydra.run.dir == "mine"


def test_cfg_job_shows_what_the_preset_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["debug=fast", "--cfg", "job"], tmp_path, monkeypatch, capsys)
    assert code == 0 and "verify_reload: true" in out and "verify_predict: true" in out and "eval_limit: 64" in out


@pytest.mark.slow
def test_debug_fast_trains_evaluates_saves_reloads_and_predicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    code, out = run_cli(["debug=fast", *SMALL], tmp_path, monkeypatch, capsys)
    assert code == 0, out
    (run,) = (tmp_path / "tmp" / "plait-debug").iterdir()
    assert (run / "checkpoints" / "step_0000003" / "COMPLETE").exists()
    assert not (run / "metrics.jsonl").exists()  # console logging only
    assert "val/accuracy" in out
    assert "verify_reload: passed; step 3 reloaded from step_0000003" in out
    assert "verify_predict: passed; plait predict answered" in out


@pytest.mark.slow
def test_verify_reload_catches_state_the_checkpoint_does_not_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose(["debug=fast", *SMALL, "logger=[jsonl]", "trainer.verify_predict=false"], quick=False)
    monkeypatch.setattr(distributed, "load_optimizer_state", lambda model, optimizer, state: None)  # a broken resume
    with pytest.raises(PlaitError, match=r"verify_reload failed: one step after reloading .*step_0000003 differs"):
        train(cfg, tmp_path / "run")


def test_the_profiler_window_is_given_on_the_command_line_and_checked() -> None:
    from framework.engine.validation import validate_config
    from framework.errors import ConfigValueError

    cfg = compose(["trainer.profiler={wait:0,active:2}"])
    validate_config(cfg)
    assert OmegaConf.to_container(cfg.trainer.profiler) == {"wait": 0, "active": 2}  # warmup: its default
    with pytest.raises(ConfigValueError, match=r"trainer\.profiler\.active=0 is not allowed: must be >= 1"):
        validate_config(compose(["trainer.profiler={active:0}"]))
    with pytest.raises(ConfigValueError, match=r"trainer\.profiler=.*must be null or \{wait, warmup, active\}"):
        validate_config(compose(["trainer.profiler={actve:2}"]))


def test_an_unknown_option_lists_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["debug=fats"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "Unknown debug 'fats'. Known debugs: fast, limit, none, overfit, profile." in out
    assert "Closest match: 'fast'" in out and list(tmp_path.iterdir()) == []
