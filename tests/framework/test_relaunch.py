"""Relaunching from a run's recorded config (framework.cli.relaunch), the mechanism of `plait sweep resume`."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from framework.cli.relaunch import recorded_config, with_overrides
from framework.errors import PlaitError

RECORDED = {
    "trainer": {"max_steps": 7},
    "optimizer": {"_name_": "adamw", "lr": 0.01},
    "model": {"_name_": "lstm", "d_model": 32},
    "objective": "val/loss",
}


def test_the_resolved_config_wins_over_hydras_and_is_typed(tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save({**RECORDED, "precision": {"_name_": "auto"}}, tmp_path / ".hydra" / "config.yaml")
    assert recorded_config(tmp_path).precision._name_ == "auto"  # killed before it was built: Hydra's copy
    OmegaConf.save({**RECORDED, "precision": {"_name_": "amp_bf16"}}, tmp_path / "config.yaml")
    cfg = recorded_config(tmp_path)
    assert cfg.precision._name_ == "amp_bf16" and cfg.trainer.max_steps == 7
    assert cfg.trainer.resume is None  # the TrainConfig schema fills what the file leaves out
    with pytest.raises(PlaitError, match="no recorded config"):
        recorded_config(tmp_path / "nothing")


def test_overrides_are_parsed_like_hydras_and_keep_the_recorded_components(tmp_path: Path) -> None:
    OmegaConf.save(RECORDED, tmp_path / "config.yaml")
    cfg = with_overrides(recorded_config(tmp_path), ["optimizer.lr=3e-3", "trainer.resume=auto", "+name=again"])
    assert cfg.optimizer.lr == 3e-3 and cfg.trainer.resume == "auto" and cfg.name == "again"
    assert cfg.model.d_model == 32  # everything else as recorded
    for bad, message in [
        ("model=gru", "keeps the recorded model"),
        ("optimizer.lrr=1", "has no key 'optimizer.lrr'"),
        ("optimizer.lr=1,2", "only key=value"),
    ]:
        with pytest.raises(PlaitError, match=message):
            with_overrides(recorded_config(tmp_path), [bad])
