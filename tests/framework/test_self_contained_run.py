"""A run reopens from its own directory alone: moved elsewhere, with its data deleted, it predicts, translates and
generates without writing a byte into itself, and evaluates given only the file of the split it evaluates."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from framework.cli.commands import load_command
from framework.errors import PlaitError
from framework.testing import run_quick
from plugins.tasks import demo_corpora, synthetic_sentiment

torch.set_num_threads(1)

SMALL = ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64", "model.max_length=64"]
COMMON = ["precision=fp32", "objective=val/loss", "trainer.max_steps=4", "trainer.eval_every_n_steps=4", *SMALL]


def write_data(root: Path) -> dict[str, list[str]]:
    """Data files for one run of each task kind; returns each run's overrides pointing at them."""
    root.mkdir(parents=True)
    for split, seed, n in (("train", 1, 240), ("val", 2, 40)):
        rows = synthetic_sentiment.generate(n, seed)
        (root / f"sent_{split}.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows))
        pairs = demo_corpora.parallel(n, seed)
        (root / f"mt_{split}.en").write_text("".join(f"{s}\n" for s, _ in pairs))
        (root / f"mt_{split}.xx").write_text("".join(f"{t}\n" for _, t in pairs))
    (root / "lm.txt").write_text(demo_corpora.lm_text(300, 3))
    return {
        "sentiment": [f"task.train_path={root}/sent_train.tsv", f"task.val_path={root}/sent_val.tsv"],
        "language_modeling": [
            "task=language_modeling",
            f"task.train_path={root}/lm.txt",
            "task.block_size=32",
            "tokenizer=char",
            "model=transformer_decoder",
        ],
        "translation": [
            "task=translation",
            f"task.train_path='{root}/mt_train.{{lang}}'",
            f"task.val_path='{root}/mt_val.{{lang}}'",
            "task.source_lang=en",
            "task.target_lang=xx",
            "task.max_length=24",
            "task.max_decode_length=8",
            "model=transformer_seq2seq",
        ],
    }


def checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory`, by relative path."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each run trained on files, copied to another place, then its data and token cache deleted."""
    root = tmp_path_factory.mktemp("moved")
    data = root / "data"
    runs = {}
    for name, overrides in write_data(data).items():
        run_quick([*COMMON, f"task.cache_dir={root / 'cache'}", *overrides], root / "runs" / name)
        runs[name] = shutil.copytree(root / "runs" / name, root / "elsewhere" / name)
    shutil.rmtree(data)
    shutil.rmtree(root / "runs")
    shutil.rmtree(root / "cache")
    return runs


@pytest.mark.parametrize(
    ("run", "command", "args", "expected"),
    [
        ("sentiment", "predict", ['text="a gripping, funny film"'], ("negative", "neutral", "positive")),
        ("language_modeling", "generate", ["prompt=the ", "max_new_tokens=12"], ("the ",)),
        ("translation", "translate", ["text=the film was good", "beam_size=2"], None),
    ],
)
def test_inference_works_without_the_data_and_writes_nothing(moved, run, command, args, expected, capsys) -> None:
    before = checksums(moved[run])
    load_command(command).main([str(moved[run]), *args])
    out = capsys.readouterr().out.strip()
    assert out, f"plait {command} printed nothing"
    if expected:
        assert any(word in out for word in expected)
    assert checksums(moved[run]) == before


def test_eval_needs_only_the_file_of_its_split(moved, tmp_path: Path, capsys) -> None:
    val = tmp_path / "dev.tsv"
    val.write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in synthetic_sentiment.generate(30, 9)))
    before = checksums(moved["sentiment"])
    load_command("eval").main([str(moved["sentiment"]), "split=val", f"task.val_path={val}"])
    assert "val/accuracy" in capsys.readouterr().out
    after = checksums(moved["sentiment"])
    written = set(after) - set(before)
    assert len(written) == 1 and next(iter(written)).endswith("eval_val.json")
    assert {k: v for k, v in after.items() if k in before} == before
    with pytest.raises(PlaitError, match=r"task.train_path|data file not found"):
        load_command("eval").main([str(moved["sentiment"]), "split=train"])


def test_a_changed_tokenizer_is_skipped_with_a_note_and_refused_when_no_checkpoint_is_intact(
    moved, tmp_path: Path, capsys
) -> None:
    run = shutil.copytree(moved["language_modeling"], tmp_path / "run")
    checkpoints = sorted(run.glob("checkpoints/step_*"))
    assert len(checkpoints) == 2
    for i, checkpoint in enumerate(checkpoints[::-1]):
        vocab = next(checkpoint.glob("tokenizer/text/*"))
        vocab.write_bytes(vocab.read_bytes().replace(b"e", b"E", 1))
        if i == 0:  # only the newest is damaged: the older one is used, and the skip is said
            load_command("generate").main([str(run), "prompt=the ", "max_new_tokens=3"])
            assert f"skipped checkpoint {checkpoints[-1]}" in capsys.readouterr().err
    with pytest.raises(PlaitError, match=r"could be loaded.*differ from the ones this checkpoint was trained with"):
        load_command("generate").main([str(run), "prompt=the "])


def test_a_read_only_run_directory_is_evaluated_with_the_results_printed(
    moved, tmp_path: Path, monkeypatch, capsys
) -> None:
    val = tmp_path / "dev.tsv"
    val.write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in synthetic_sentiment.generate(30, 9)))
    real_write = Path.write_text

    def read_only(self: Path, *args, **kwargs):
        if self.name.startswith("eval_"):
            raise OSError(30, "Read-only file system")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    load_command("eval").main([str(moved["sentiment"]), "split=val", f"task.val_path={val}"])
    out = capsys.readouterr().out
    assert "val/accuracy" in out and "Read-only file system" in out and "results:" not in out
