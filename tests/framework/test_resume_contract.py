"""Resume honours the saved config: safe changes apply, optimisation and shape changes are refused before anything
is written, and relaunching a finished run adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from framework.errors import PlaitError
from framework.testing import run_quick

torch.set_num_threads(1)

BASE = ["precision=fp32", "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2", "trainer.eval_every_n_steps=2"]
BASE += ["task.demo_size=300", "model.d_model=32", "model.n_heads=2", "model.n_layers=1"]


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    run_quick(BASE, tmp_path / "run")
    return tmp_path / "run"


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("optimizer.lr=1e-5", "optimizer.lr: 0.003 -> 1e-05"),
        ("tokenizer=char", "tokenizer._name_: 'bpe' -> 'char'"),
        ("model.d_model=64", "model.d_model: 32 -> 64"),
        ("trainer.seed=3", "trainer.seed: 0 -> 3"),
    ],
)
def test_an_incompatible_or_optimisation_change_is_refused_before_anything_is_written(
    finished: Path, change: str, named: str
) -> None:
    before = {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    with pytest.raises(PlaitError, match="cannot resume") as err:
        run_quick([*BASE, "trainer.max_steps=6", "trainer.resume=auto", change], finished)
    assert named in str(err.value)
    assert {p: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before


def test_safe_changes_apply_and_a_finished_run_adds_no_rows(finished: Path) -> None:
    n_rows = len(rows(finished))
    result = run_quick([*BASE, "trainer.resume=auto"], finished)  # relaunch the finished run as it was
    assert len(rows(finished)) == n_rows and result.checkpoint is not None and result.checkpoint.exists()
    result = run_quick([*BASE, "trainer.max_steps=6", "trainer.log_every_n_steps=1", "trainer.resume=auto"], finished)
    assert [r["step"] for r in rows(finished) if "train/loss" in r][-2:] == [5, 6]
    assert result.checkpoint.name == "step_0000006"


def test_a_field_a_newer_plait_added_is_no_change_at_its_default() -> None:
    from omegaconf import OmegaConf

    from framework.engine.resume import config_changes
    from framework.testing import compose

    cfg = compose(BASE)
    saved = OmegaConf.to_container(cfg, resolve=True)
    del saved["tokenizer"]["train_max_bytes"]  # a checkpoint written before the field existed
    del saved["trainer"]["prefetch_batches"]
    del saved["trainer"]["max_tokens"], saved["task"]["extra_val_paths"]
    assert config_changes(OmegaConf.to_yaml(saved), cfg) == {}
    changed = compose([*BASE, "tokenizer.train_max_bytes=1000"])
    assert config_changes(OmegaConf.to_yaml(saved), changed) == {"tokenizer.train_max_bytes": (None, 1000)}


def test_adding_a_validation_set_on_resume_is_safe_and_a_token_budget_is_not() -> None:
    from omegaconf import OmegaConf

    from framework.engine.resume import check_resume
    from framework.testing import compose

    saved = OmegaConf.to_yaml(compose(BASE))
    applied = check_resume(saved, compose([*BASE, "+task.extra_val_paths.more=x.tsv"]), "ckpt")
    assert "task.extra_val_paths.more" in applied and all(k.startswith("task.extra_val_paths") for k in applied)
    with pytest.raises(PlaitError, match=r"trainer\.max_tokens: None -> 512"):
        check_resume(saved, compose([*BASE, "trainer.max_tokens=512"]), "ckpt")
