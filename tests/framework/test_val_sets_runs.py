"""Several validation sets in a real run: each evaluation logs `val/<name>/<metric>` beside `val/<metric>`, the
monitor of best checkpoints and early stopping may name an extra set, and a monitor naming a set the task does not
have fails before any work with the list of those it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_validation import run_cli

from framework.cli.commands import load_command
from framework.engine.run import train
from framework.testing import compose
from plugins.tasks.synthetic_sentiment import generate

SMALL = [
    "precision=fp32",
    "task.demo_size=200",
    "tokenizer.vocab_size=200",
    "model.d_model=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.d_ff=64",
    "trainer.max_steps=30",
    "trainer.eval_every_n_steps=10",
    "trainer.checkpoint_every_n_steps=10",
    "trainer.log_every_n_steps=10",
]


def sentiment_tsv(path: Path, n: int, seed: int) -> str:
    rows = "".join(f"{text}\t{label}\n" for text, label in generate(n, seed))
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_each_evaluation_logs_every_set_and_the_best_checkpoint_follows_an_extra_set(tmp_path: Path) -> None:
    val = sentiment_tsv(tmp_path / "val.tsv", 30, 2)
    other = sentiment_tsv(tmp_path / "other.tsv", 30, 3)
    sets = [f"task.val_path={val}", f"+task.extra_val_paths.same={val}", f"+task.extra_val_paths.other={other}"]
    watch = ["trainer.keep_best_checkpoints=1", "trainer.early_stopping.monitor=val/other/loss"]
    result = train(compose([*SMALL, *sets, *watch]), tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in rows if "val/loss" in r]
    assert [r["step"] for r in evaluations] == [10, 20, 30]
    for row in evaluations:
        for metric in ("loss", "accuracy", "macro_f1"):
            assert row[f"val/same/{metric}"] == row[f"val/{metric}"]  # the same file scores the same
            assert f"val/other/{metric}" in row
        assert row["val/other/loss"] != row["val/loss"]
    other_loss = {r["step"]: r["val/other/loss"] for r in evaluations}
    best = min(other_loss, key=other_loss.__getitem__)
    ranked = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())["ranked"]
    assert ranked[0]["step"] == best and ranked[0]["value"] == other_loss[best]
    assert result.ending["best_value"] == other_loss[best] and result.ending["best_step"] == best
    load_command("eval").main([str(tmp_path / "run"), "split=val/other"])  # opens the best checkpoint
    saved = json.loads((tmp_path / "run" / "checkpoints" / f"step_{best:07d}" / "eval_val_other.json").read_text())
    assert saved["split"] == "val/other" and saved["metrics"]["val/other/loss"] == pytest.approx(other_loss[best])


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("val/nope/loss", ["no validation set 'nope'", "its extra validation sets: same", "task.extra_val_paths"]),
        ("val/same/bleu", ["is not a metric this task logs", "val/same/accuracy"]),
    ],
)
def test_a_monitor_naming_a_missing_set_or_metric_fails_before_any_work(
    monitor: str, expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ["+task.extra_val_paths.same=x.tsv", "trainer.keep_best_checkpoints=1", f"objective={monitor}"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2, out
    for text in expected:
        assert text in out, (text, out)
    assert "Traceback" not in out and list(tmp_path.iterdir()) == []
