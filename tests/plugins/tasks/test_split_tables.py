"""The ragged tasks read their splits into tables and token stores: the same rows, ids, labels and held-out
selection as reading every split into lists; the second setup reads no file; what a run read is recorded."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from tiny import COMMON, SMALL_TRANSFORMER, char_factory

from framework import TokenStore
from framework.kinds import TASKS
from framework.testing import run_quick
from plugins.tasks import classification
from plugins.tasks.split_tables import SplitRows, TableReader, memory_source
from plugins.tasks.text_data import DataError, TextDataConfig, ratio_split, read_parallel, read_records
from plugins.tasks.token_cache import encode


def write_tsv(path: Path, n: int = 40) -> Path:
    labels = ("neg", "pos", "neutral")
    path.write_text(
        "text\tlabel\n" + "".join(f"film {i} was {'ok ' * (i % 5)}fine\t{labels[i % 3]}\n" for i in range(n))
    )
    return path


def ids(ragged: object) -> list[list[int]]:
    return [[int(t) for t in ragged[i]] for i in range(len(ragged))]  # type: ignore[index, arg-type]


def test_held_out_rows_are_the_rows_ratio_split_picks(tmp_path: Path) -> None:
    rows = [(f"<m>:{i}", [f"text {i}"]) for i in range(57)]
    whole = TableReader(TextDataConfig(cache_dir=str(tmp_path)), "t", ["text"]).open(memory_source(rows, "t"), "train")
    train, val = whole.held_out(0.2, seed=11)
    listed_train, listed_val = ratio_split(rows, 0.2, seed=11)
    assert list(train.texts("text")) == [v[0] for _, v in listed_train]
    assert [val.column("text")[i] for i in range(len(val))] == [v[0] for _, v in listed_val]
    assert val.where(0) == listed_val[0][0] and len(train.texts("text")) == len(listed_train)
    assert isinstance(train, SplitRows) and train.key != val.key != whole.key


def test_classification_equals_reading_lists(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "d.tsv")
    task = TASKS.build(TASKS.config("text_classification", train_path=str(path), val_ratio=0.25, seed=3))
    task.setup(char_factory)
    train, val = ratio_split(read_records(str(path), ["text", "label"]), 0.25, seed=3)
    for split, rows in (("train", train), ("val", val)):
        data = task.data[split]
        assert isinstance(data.ids, TokenStore)  # memory-mapped from the cache
        assert ids(data.ids) == ids(encode(task.tokenizer, [text for _, (text, _) in rows]))
        assert data.labels.tolist() == [task.class_names.index(label) for _, (_, label) in rows]


def test_translation_from_compressed_multi_file_splits_equals_reading_lists(tmp_path: Path) -> None:
    for part in ("a", "b"):
        for lang, word in (("de", "satz"), ("en", "sentence")):
            lines = "".join(f"{word} {part} {i}\n" for i in range(12))
            (tmp_path / f"{part}.{lang}.gz").write_bytes(gzip.compress(lines.encode()))
    spec = str(tmp_path / "*.{lang}.gz")
    task = TASKS.build(
        TASKS.config("translation", train_path=spec, source_lang="de", target_lang="en", val_ratio=0.2, seed=5)
    )
    task.setup(char_factory)
    train, val = ratio_split(read_parallel(spec, ("de", "en")), 0.2, seed=5)
    for split, rows in (("train", train), ("val", val)):
        data = task.data[split]
        assert ids(data.src) == ids(encode(task.src_tok, [s for _, (s, _) in rows]))
        assert ids(data.tgt) == ids(encode(task.tgt_tok, [t for _, (_, t) in rows]))
        assert [data.references[i] for i in range(len(rows))] == [t for _, (_, t) in rows]
    assert task.data_files()["train"][0]["path"].endswith("a.de.gz") and len(task.data_files()["train"]) == 4


def test_a_second_setup_reads_no_data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TASKS.config("text_classification", train_path=str(write_tsv(tmp_path / "d.tsv")))
    first = TASKS.build(cfg)
    first.setup(char_factory)

    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data file was parsed again")

    monkeypatch.setattr(classification, "read_rows", unread)
    second = TASKS.build(cfg)
    second.setup(char_factory)
    assert second.data["val"].labels.tolist() == first.data["val"].labels.tolist()


def test_a_bad_label_of_a_held_out_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\n" + "".join(f"t{i}\t{'pos' if i != 7 else 'awful'}\n" for i in range(10)))
    task = TASKS.build(TASKS.config("text_classification", train_path=str(path), labels=["neg", "pos"], seed=1))
    with pytest.raises(DataError, match=r"d.tsv:9: unknown label 'awful'"):
        task.setup(char_factory)


def test_a_run_records_the_files_it_read(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "d.tsv")
    overrides = [*COMMON, "task=text_classification", f"task.train_path={path}", *SMALL_TRANSFORMER]
    run_quick([*overrides, "tokenizer=char", "trainer.max_steps=2"], tmp_path / "run")
    record = json.loads((tmp_path / "run" / "data_files.json").read_text())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert record == {"train": [{"path": str(path), "bytes": path.stat().st_size, "sha256": sha}]}


def test_lengths_for_bucketing_come_from_the_store(tmp_path: Path) -> None:
    task = TASKS.build(TASKS.config("text_classification", train_path=str(write_tsv(tmp_path / "d.tsv"))))
    task.setup(char_factory)
    store = task.data["train"].ids
    assert np.array_equal(store.lengths(), [len(store[i]) for i in range(len(store))])


def test_question_answering_names_the_files_it_read(tmp_path: Path) -> None:
    from test_question_answering import write_babi
    from test_squad import write_squad

    root = write_babi(tmp_path / "babi", n_train=5, n_test=2)
    babi_task = TASKS.build(TASKS.config("question_answering", babi_root=str(root), babi_tasks=[8, 1]))
    files = babi_task.data_files()
    assert [Path(f["path"]).name for f in files["train"]] == ["qa8_lists_train.txt", "qa1_single_train.txt"]
    assert [Path(f["path"]).name for f in files["test"]] == ["qa8_lists_test.txt", "qa1_single_test.txt"]
    squad = write_squad(tmp_path / "s.json", n_articles=2)
    squad_task = TASKS.build(TASKS.config("question_answering", format="squad", squad_path=str(squad)))
    sha = hashlib.sha256(squad.read_bytes()).hexdigest()
    assert squad_task.data_files() == {"train": [{"path": str(squad), "bytes": squad.stat().st_size, "sha256": sha}]}


def test_a_saved_dataset_reads_each_split_into_its_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from test_text_data import FakeDataset, FakeDatasetDict

    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "dataset_dict.json").write_text('{"splits": ["train", "validation"]}')
    splits = FakeDatasetDict(
        train=FakeDataset({"text": ["good film", "bad film", "fine"], "label": [1, 0, 1]}),
        validation=FakeDataset({"text": ["awful"], "label": [0]}),
    )
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_from_disk=lambda path: splits))
    task = TASKS.build(TASKS.config("text_classification", train_path=str(saved), val_path=str(saved)))
    task.setup(char_factory)
    assert task.data["train"].labels.tolist() == [1, 0, 1] and task.data["val"].labels.tolist() == [0]
    assert ids(task.data["val"].ids) == task.tokenizer.encode_batch(["awful"])


def test_a_second_setup_reuses_the_tokenizer_and_plait_prepare_lists_the_steps(tmp_path: Path) -> None:
    from framework.engine.preparation import prepare_data
    from framework.testing import compose

    path = write_tsv(tmp_path / "d.tsv")
    overrides = ["task=text_classification", f"task.train_path={path}", "tokenizer=char", "trainer.device=cpu"]
    first = prepare_data(compose(overrides))
    steps = {row["step"]: row for row in first.steps}
    assert steps["files train"]["hashed"] == 1 and steps["table train"]["state"] == "prepared"
    assert steps["tokenizer text"]["state"] == "trained"
    assert steps["tokens train text"]["state"] == steps["tokens val text"]["state"] == "prepared"
    again = {row["step"]: row for row in prepare_data(compose(overrides)).steps}
    assert again["files train"]["hashed"] == 0  # the file's hash is remembered for its size, times and inode
    assert again["table train"]["state"] == "cached" and again["tokenizer text"]["state"] == "loaded"
    assert again["tokens train text"]["state"] == again["tokens val text"]["state"] == "cached"


def test_a_bad_file_is_named_with_its_option(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\ngood\tpos\nbad\n")
    task = TASKS.build(TASKS.config("text_classification", train_path=str(path)))
    with pytest.raises(DataError, match=r"^task.train_path: .*d.tsv:3: expected 2 fields, found 1"):
        task.setup(char_factory)
