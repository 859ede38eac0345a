"""`plait prepare <overrides>`: composes as `plait train` does, trains the tokenizer and fills the token cache, prints
what it wrote with times; the `plait train` that follows finds the tokenizer and the stores in the cache."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from framework.cli.commands.prepare import main as prepare
from framework.errors import PlaitError
from framework.testing import QUICK, run_quick
from plugins.tasks.token_cache import STATS

WORDS = ["to", "be", "or", "not", ",", "that", "is", "the", "question", ".", "whether", "tis", "nobler"]
LM = ["task=language_modeling", "task.block_size=16", "tokenizer=bpe", "tokenizer.vocab_size=120"]
LM += ["model=transformer_decoder", "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32"]
LM += ["model.max_length=16", "precision=fp32", "trainer.max_steps=2", "trainer.eval_every_n_steps=2"]
LM += ["objective=val/loss"]


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(tmp_path / "cache"))
    rng = random.Random(0)
    path = tmp_path / "hamlet.txt"
    path.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(10)) + "\n" for _ in range(300)))
    return path


def test_prepare_fills_the_cache_that_train_then_finds(corpus: Path, tmp_path: Path, capsys) -> None:
    overrides = [*QUICK, *LM, f"task.train_path={corpus}"]
    misses = STATS["misses"]
    prepare([*overrides, f"run_dir={tmp_path / 'prepared'}"])
    out = capsys.readouterr().out
    assert STATS["misses"] == misses + 1
    assert "tokenizer      trained" in out and "tokens train   prepared" in out and "<u2" in out
    assert str(tmp_path / "cache" / "tokens") in out and "done in" in out
    files = json.loads((tmp_path / "prepared" / "data_files.json").read_text())
    assert [f["path"] for f in files["train"]] == [str(corpus)] and len(files["train"][0]["sha256"]) == 64
    hits = STATS["hits"]
    run_quick(overrides, tmp_path / "run")  # QUICK again (compose adds it): the same config as prepared
    assert STATS["misses"] == misses + 1 and STATS["hits"] == hits + 1
    assert json.loads((tmp_path / "run" / "data_files.json").read_text()) == files
    prepare(overrides)  # again: everything found
    out = capsys.readouterr().out
    assert "tokenizer      loaded" in out and "tokens train   cached" in out and "0 hashed" in out


def test_prepare_takes_overrides_only_and_checks_them(corpus: Path) -> None:
    with pytest.raises(PlaitError, match="only overrides"):
        prepare(["-m", "task=language_modeling"])
    with pytest.raises(PlaitError, match="Unknown task 'language_modelling'"):
        prepare(["task=language_modelling"])
