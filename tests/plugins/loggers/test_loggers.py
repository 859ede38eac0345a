"""Loggers: metrics.jsonl rows, a W&B offline run with config and metrics, plain console lines."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from framework.testing import run_quick


def test_jsonl_rows_have_step_and_prefixed_metrics(tmp_path: Path) -> None:
    run_quick(["trainer.max_steps=4"], tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "train/loss" in r]
    val = [r for r in rows if "val/accuracy" in r]
    assert [r["step"] for r in train] == [2, 4]
    assert {"train/lr", "train/tokens_per_s", "sys/peak_memory_mb", "precision/grad_norm"} <= set(train[0])
    assert [r["step"] for r in val] == [3, 4] and "val/loss" in val[0] and "val/macro_f1" in val[0]


def test_wandb_offline_run_holds_config_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the logger's own default must be offline
    run_quick(["logger=[wandb]", "trainer.max_steps=2", "logger.wandb.tags=[unit]"], tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "expected exactly one offline run directory"
    needles = (b"transformer_encoder", b"max_steps", b"train/loss", b"val/accuracy")
    deadline = time.monotonic() + 30  # W&B's service process writes the run file asynchronously
    while True:
        data = next(runs[0].glob("run-*.wandb")).read_bytes()
        if all(n in data for n in needles) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for needle in needles:
        assert needle in data, needle


def test_console_plain_mode_prints_eval_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_quick(["logger=[console]", "trainer.max_steps=3"], tmp_path)
    out = capsys.readouterr().out
    assert "training to step 3" in out
    assert "step 3" in out and "accuracy" in out
    assert re.search(r"^step 2 reached \d+\.\d s after start \(imports, data, build", out, re.MULTILINE), out
