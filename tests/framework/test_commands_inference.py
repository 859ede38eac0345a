"""`plait eval | predict | generate | translate` on tiny trained runs of each task (commands called in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from framework.cli.commands import load_command
from framework.errors import InsufficientMemoryError, PlaitError
from framework.testing import run_quick

torch.set_num_threads(1)  # the CPU is shared
CPU_ALLOCATION_FAILURE = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 51539607552 bytes. Error code 12 (Cannot allocate memory)"
)

SMALL = ["model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64", "model.max_length=64"]
RUNS = {
    "sentiment": ["task.demo_size=300", "tokenizer.vocab_size=200", *SMALL],
    "language_modeling": [
        "task=language_modeling",
        "task.demo_size=300",
        "task.block_size=32",
        "tokenizer=char",
        "model=transformer_decoder",
        *SMALL,
    ],
    "translation": [
        "task=translation",
        "task.demo_size=200",
        "task.max_length=24",
        "task.max_decode_length=10",
        "tokenizer.vocab_size=200",
        "model=transformer_seq2seq",
        *SMALL,
    ],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, float]]]:
    """One tiny trained run per task: run directory and its final validation metrics."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, overrides in RUNS.items():
        common = ["precision=fp32", "objective=val/loss", f"task.cache_dir={root / 'cache'}"]
        result = run_quick([*common, *overrides], root / name)
        out[name] = (root / name, result.metrics)
    return out


def plait(command: str, *argv: str) -> None:
    """Run one command module's main() as `plait <command> argv...` does."""
    load_command(command).main(list(argv))


@pytest.mark.parametrize("task", list(RUNS))
def test_eval_reproduces_the_final_validation_metrics_and_writes_json(runs, task: str, capsys) -> None:
    run_dir, trained = runs[task]
    plait("eval", str(run_dir), "split=val")
    printed = capsys.readouterr().out
    written = next((run_dir / "checkpoints").glob("step_*/eval_val.json"))
    result = json.loads(written.read_text())
    assert result["split"] == "val" and set(result["metrics"]) == set(trained)
    for key, value in trained.items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-6)
        assert key in printed
    assert f"results: {written}" in printed


def test_eval_defaults_to_test_and_reports_classes(runs, capsys) -> None:
    run_dir, _ = runs["sentiment"]
    plait("eval", str(run_dir))
    result = json.loads(next((run_dir / "checkpoints").glob("step_*/eval_test.json")).read_text())
    assert len(result["confusion_matrix"]) == 3 and set(result["per_class"]) == {"negative", "neutral", "positive"}
    assert "confusion matrix" in capsys.readouterr().out


def test_eval_of_translation_logs_sacrebleu_signatures(runs) -> None:
    run_dir, _ = runs["translation"]
    plait("eval", str(run_dir), "split=test", "task.eval_beam_size=2")
    result = json.loads(next((run_dir / "checkpoints").glob("step_*/eval_test.json")).read_text())
    assert "tok:13a" in result["bleu_signature"] and "version:" in result["chrf_signature"]
    assert result["beam_size"] == 2 and result["overrides"] == ["task.eval_beam_size=2"]
    assert {"test/bleu", "test/chrf"} <= set(result["metrics"]) and result["samples"][0]["reference"]


def test_eval_of_a_missing_split_says_how_to_add_it(runs, tmp_path: Path) -> None:
    run_dir, _ = runs["language_modeling"]
    with pytest.raises(PlaitError, match=r"no 'test' split .* task.test_path=<file>"):
        plait("eval", str(run_dir), "split=test")
    text = tmp_path / "held_out.txt"
    text.write_text("the movie was great\nthe plot was dull\n" * 20)
    plait("eval", str(run_dir), "split=test", f"task.test_path={text}")
    assert next((run_dir / "checkpoints").glob("step_*/eval_test.json")).is_file()


def test_predict_text_and_file(runs, tmp_path: Path, capsys) -> None:
    run_dir, _ = runs["sentiment"]
    plait("predict", str(run_dir), "text=the plot was great")
    label, prob, text = capsys.readouterr().out.strip().split("\t")
    assert label in ("negative", "neutral", "positive") and 0 < float(prob) <= 1 and text == "the plot was great"
    inputs = tmp_path / "in.txt"
    inputs.write_text("a dull film\nthe cast was superb\nit opens on friday\n")
    plait("predict", str(run_dir), f"file={inputs}", "device=cpu")
    assert [line.split("\t")[2] for line in capsys.readouterr().out.strip().splitlines()] == inputs.read_text().split(
        "\n"
    )[:3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["text=a", "file=b"], r"exactly one of text="),
        ([], r"exactly one of text="),
        (["text=a", "colour=red"], r"unknown option 'colour'"),
        (["text=a", "batch_size=many"], r"batch_size=many: expected int"),
        (["text="], r"text= is empty: give the input"),  # issue 24: it predicted a label for ""
        (["text=   "], r"text= is empty: give the input"),
    ],
)
def test_predict_argument_errors(runs, argv: list[str], message: str) -> None:
    with pytest.raises(PlaitError, match=message):
        plait("predict", str(runs["sentiment"][0]), *argv)


def test_predict_input_file_errors_name_the_line(runs, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\nlater\n")
    with pytest.raises(PlaitError, match=r"bad.txt:2: empty line"):
        plait("predict", str(runs["sentiment"][0]), f"file={bad}")
    bad.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(PlaitError, match=r"bad.txt:2: not valid UTF-8"):
        plait("predict", str(runs["sentiment"][0]), f"file={bad}")


def test_eval_out_of_memory_is_one_message_naming_the_batch_option(runs, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.tasks.classification import ClassificationTask

    def allocation_fails(self, model, batch):
        raise RuntimeError(CPU_ALLOCATION_FAILURE)

    monkeypatch.setattr(ClassificationTask, "eval_step", allocation_fails)
    with pytest.raises(InsufficientMemoryError) as info:
        plait("eval", str(runs["sentiment"][0]), "split=val", "batch_size=16")
    message = str(info.value)
    assert message.startswith("out of memory evaluating the val split, on a batch of 16 examples (input_ids 16x")
    assert ": an allocation of 48.0 GiB failed; cpu has " in message and message.endswith("Lower batch_size (now 16).")


def test_commands_refuse_tasks_they_do_not_fit(runs) -> None:
    with pytest.raises(PlaitError, match=r"plait predict works with classification tasks"):
        plait("predict", str(runs["language_modeling"][0]), "text=hello")
    with pytest.raises(PlaitError, match=r"plait generate works with language modelling tasks"):
        plait("generate", str(runs["sentiment"][0]))


def test_generate_is_seeded_and_continues_the_prompt(runs, capsys) -> None:
    run_dir = str(runs["language_modeling"][0])
    outputs = []
    for seed in (3, 3, 4):
        plait("generate", run_dir, "prompt=the movie", "max_new_tokens=30", f"seed={seed}", "top_k=10", "top_p=0.95")
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] != outputs[2]
    assert all(o.startswith("the movie") and len(o) > len("the movie") + 10 for o in outputs)
    plait("generate", run_dir, "prompt=the", "max_new_tokens=5", "temperature=0", "samples=2")
    printed = capsys.readouterr().out
    assert printed.count("--- sample") == 2


def test_translate_text_and_file_with_greedy_and_beam(runs, tmp_path: Path, capsys) -> None:
    run_dir = str(runs["translation"][0])
    plait("translate", run_dir, "text=the plot was great", "beam_size=1")
    assert len(capsys.readouterr().out.splitlines()) == 1
    inputs = tmp_path / "src.txt"
    inputs.write_text("the movie was boring\nthe cast felt warm\n")
    plait("translate", run_dir, f"file={inputs}", "beam_size=3", "length_penalty=1.0", "max_length=5")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2


def test_cli_prints_plait_errors_without_a_traceback(tmp_path: Path) -> None:
    plait_bin = Path(sys.executable).with_name("plait")
    done = subprocess.run(
        [str(plait_bin), "eval", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "error:" in done.stderr and "does not exist" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["eval", "predict", "generate", "translate"])
def test_each_command_has_one_line_help(command: str) -> None:
    from framework.cli.commands import command_help

    assert command_help(command).startswith(("evaluate", "label", "sample", "translate"))
