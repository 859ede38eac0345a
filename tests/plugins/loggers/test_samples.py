"""Validation samples reach every tracker: a multi30k_gru_attention run's translations in the W&B table (offline
files), TensorBoard's Text dashboard, MLflow's artifacts and samples.jsonl, the same sentences at every evaluation;
the LM and QA tasks give theirs; trainer.eval_samples=0 turns them off."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from trackers import mlflow_run, samples_rows, tensorboard_events

from framework.testing import run_quick

ANIMALS = ["dog", "cat", "horse", "bird", "fish", "cow", "goat", "duck"]
TIERE = ["Hund", "Katze", "Pferd", "Vogel", "Fisch", "Kuh", "Ziege", "Ente"]


def multi30k_root(root: Path) -> Path:
    """A few line-aligned sentence pairs in shared/data's multi30k layout."""
    (root / "multi30k").mkdir(parents=True)
    for split in ("train", "val", "test_2016_flickr"):
        de = [f"Ein {TIERE[i % 8]} läuft {i} Mal." for i in range(24)]
        en = [f"A {ANIMALS[i % 8]} runs {i} times." for i in range(24)]
        (root / "multi30k" / f"{split}.de").write_text("\n".join(de) + "\n")
        (root / "multi30k" / f"{split}.en").write_text("\n".join(en) + "\n")
    return root


def test_translations_reach_wandb_tensorboard_mlflow_and_jsonl(tmp_path: Path) -> None:
    data = multi30k_root(tmp_path / "data")
    run_dir = tmp_path / "run"
    run_quick(
        [
            "experiment=multi30k_gru_attention", f"data_root={data}", "logger=[jsonl,tensorboard,mlflow,wandb]",
            "trainer.max_steps=4", "trainer.eval_every_n_steps=2", "trainer.eval_samples=3",
            "tokenizer.vocab_size=120", "model.d_model=16", "model.d_hidden=16", "task.max_decode_length=8",
        ],
        run_dir,
    )  # fmt: skip
    evaluations = samples_rows(run_dir)
    assert [(e["step"], e["name"]) for e in evaluations] == [(2, "val/samples"), (4, "val/samples")]
    first, second = (e["rows"] for e in evaluations)
    assert len(first) == 3 and set(first[0]) == {"source", "reference", "output"}
    assert [r["source"] for r in first] == [r["source"] for r in second]  # a fixed selection
    val_de = (tmp_path / "data" / "multi30k" / "val.de").read_text().splitlines()
    assert all(r["source"] in val_de for r in first)

    texts = tensorboard_events(run_dir).Tensors("val/samples/text_summary")
    assert [t.step for t in texts] == [2, 4]
    assert first[0]["source"] in texts[0].tensor_proto.string_val[0].decode()

    client, run = mlflow_run(run_dir)
    for step, rows in ((2, first), (4, second)):
        local = client.download_artifacts(run.info.run_id, f"val/samples/step_{step:07d}.json", str(tmp_path))
        table = json.loads(Path(local).read_text())
        assert table["columns"] == ["source", "reference", "output"]
        assert table["data"] == [[r["source"], r["reference"], r["output"]] for r in rows]

    offline = next((run_dir / "wandb").glob("offline-run-*"))
    tables = sorted((offline / "files" / "media" / "table" / "val").glob("samples_*.table.json"))
    assert len(tables) == 2
    wandb_table = json.loads(tables[0].read_text())
    assert wandb_table["columns"] == ["source", "reference", "output"]
    assert {row[0] for row in wandb_table["data"]} == {r["source"] for r in first}


def test_eval_samples_zero_logs_none(tmp_path: Path) -> None:
    data = multi30k_root(tmp_path / "data")
    run_quick(
        [
            "experiment=multi30k_gru_attention", f"data_root={data}", "trainer.max_steps=2", "trainer.eval_samples=0",
            "tokenizer.vocab_size=120", "model.d_model=16", "model.d_hidden=16", "task.max_decode_length=8",
        ],
        tmp_path / "run",
    )  # fmt: skip
    assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_language_model_and_qa_samples_are_fixed_and_leave_the_random_streams_alone(tmp_path: Path) -> None:
    from framework.engine.build import build
    from framework.engine.evaluation import samples
    from framework.testing import compose

    cases = {
        "language_modeling": (
            ["task=language_modeling", "task.demo_size=300", "task.block_size=32", "tokenizer=char",
             "model=transformer_decoder", "model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64"],
            {"prompt", "reference", "continuation"},
        ),
        "babi": (
            ["experiment=babi_1k_joint", f"data_root={babi_root(tmp_path / 'data')}", "task.babi_tasks=[1]"],
            {"question", "reference", "answer"},
        ),
    }  # fmt: skip
    for name, (overrides, columns) in cases.items():
        built = build(compose(overrides), tmp_path / name)
        state = torch.random.get_rng_state()
        rows = samples(built.model, built.task, "val", 3, precision=built.precision)
        assert torch.equal(torch.random.get_rng_state(), state), name
        assert len(rows) == 3 and set(rows[0]) == columns, (name, rows)
        again = samples(built.model, built.task, "val", 3, precision=built.precision)
        assert again == rows, name  # the same examples (and, the model unchanged, the same outputs)


def babi_root(root: Path) -> Path:
    """bAbI task 1 in shared/data's layout, a few stories."""
    places = ["kitchen", "garden", "hallway", "office"]
    story = "".join(
        f"1 Mary went to the {places[i % 4]}.\n2 John went to the {places[(i + 1) % 4]}.\n"
        f"3 Where is Mary?\t{places[i % 4]}\t1\n"
        for i in range(60)
    )
    (root / "babi" / "en").mkdir(parents=True)
    for split in ("train", "test"):
        (root / "babi" / "en" / f"qa1_single-supporting-fact_{split}.txt").write_text(story)
    return root
