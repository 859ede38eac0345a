"""Language modelling on streamed corpora: the store holds exactly the ids of encoding each whole document with
end-of-text after it, a second run memory-maps it and reuses the tokenizer, validation is the tail of the training
tokens, each process reads only its own windows, and bad input names the config key, the file and the line."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from framework import DataError, Task
from framework.engine.tokenizer_factory import training_tokenizers
from framework.kinds import TASKS, TOKENIZERS
from plugins.tasks import lm_corpus, lm_data
from plugins.tasks.language_modeling import LanguageModelingTask
from plugins.tasks.token_cache import STATS

WORDS = ["the", "king", "naïve", "café", "speaks", ",", ".", "!", "it's", "(aside)", "über", "42", "thou", "art"]
COMPRESS = {"": bytes, ".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def prose(n_lines: int, seed: int) -> str:
    """Lines of words with indents, blank lines and double spaces, as real text has."""
    rng = random.Random(seed)
    lines = [
        rng.choice(["", "  "]) + " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12))) for _ in range(n_lines)
    ]
    return "\n".join(lines).replace(" . ", ".  ") + "\n"


def write(path: Path, text: str) -> Path:
    suffix = next((s for s in COMPRESS if s and path.name.endswith(s)), "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(COMPRESS[suffix](text.encode()))
    return path


def build(tmp_path: Path, tokenizer: str = "char", run: str = "run", **options: object) -> LanguageModelingTask:
    """A task set up as `plait train` does: the training tokenizer factory, the cache under tmp_path."""
    cfg = TASKS.config("language_modeling", **{"block_size": 8, "cache_dir": str(tmp_path / "cache"), **options})
    task = TASKS.build(cfg)
    sizes = {"bpe": {"vocab_size": 300}, "byte_level_bpe": {"vocab_size": 400}}.get(tokenizer, {})
    task.spec = task.setup(training_tokenizers(TOKENIZERS.config(tokenizer, **sizes), tmp_path / run, None))
    return task


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 64 characters and batches of 500: documents span many pieces and batches."""
    monkeypatch.setattr(lm_data, "PIECE_CHARS", 64)
    monkeypatch.setattr(lm_corpus, "BATCH_CHARS", 500)


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("tokenizer", ["char", "bpe", "byte_level_bpe"])
def test_streaming_and_whole_file_paths_give_identical_token_ids(tmp_path: Path, tokenizer: str) -> None:
    texts = {f"part{i}.txt{s}": prose(40 + 30 * i, seed=i) for i, s in enumerate(COMPRESS)}
    for name, text in texts.items():
        write(tmp_path / "corpus" / name, text)
    task = build(tmp_path, tokenizer, train_path=str(tmp_path / "corpus"), val_path=str(tmp_path / "corpus/part0.txt"))
    tok, eos = task.tokenizer, task.tokenizer.special_id("eos")
    whole = [t for name in sorted(texts) for t in [*tok.encode(texts[name]), eos]]  # a file is a document
    assert np.asarray(task.tokens["train"]).tolist() == whole
    reference = TOKENIZERS.build(TOKENIZERS.config(tokenizer, **({"vocab_size": 300} if tokenizer == "bpe" else {})))
    if tokenizer != "byte_level_bpe":  # trained on whole documents, it learns the same vocabulary as from pieces
        reference.train([texts[name] for name in sorted(texts)])
        assert reference.vocabulary() == tok.vocabulary()
    rows = [{"body": prose(3, seed=10 + i)} for i in range(30)]
    write(tmp_path / "rows.jsonl.gz", "".join(json.dumps(r) + "\n" for r in rows))
    task = build(
        tmp_path, tokenizer, run="rows", train_path=str(tmp_path / "rows.jsonl.gz"), format="jsonl", text_column="body"
    )
    expected = [t for r in rows for t in [*task.tokenizer.encode(r["body"]), eos]]  # a row is a document
    held_out = np.concatenate([np.asarray(task.tokens["train"]), np.asarray(task.tokens["val"])])
    assert held_out.tolist() == expected


def test_a_second_run_memory_maps_the_store_and_reuses_the_tokenizer(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", prose(200, seed=1))
    first = build(tmp_path, "bpe", train_path=str(tmp_path / "a.txt"))
    hits, misses = STATS["hits"], STATS["misses"]
    second = build(tmp_path, "bpe", run="again", train_path=str(tmp_path / "a.txt"))
    assert (STATS["hits"], STATS["misses"]) == (hits + 1, misses)
    assert isinstance(second.tokens["train"], np.memmap) and isinstance(second.tokens["val"], np.memmap)
    assert np.array_equal(second.tokens["train"], first.tokens["train"])
    steps = {row["step"]: row for row in second.prepared()}
    assert steps["tokenizer"]["state"] == "loaded" and steps["files train"]["hashed"] == 0
    assert steps["tokens train"]["state"] == "cached" and steps["tokens train"]["dtype"] == "<u2"
    assert second.data_files()["train"][0]["path"] == str(tmp_path / "a.txt")
    write(tmp_path / "a.txt", prose(200, seed=2))  # new content: a new store, the tokenizer trained again
    third = build(tmp_path, "bpe", run="changed", train_path=str(tmp_path / "a.txt"))
    assert {row["step"]: row["state"] for row in third.prepared() if "state" in row} == {
        "tokenizer": "trained",
        "tokens train": "prepared",
    }


def test_validation_is_the_tail_of_the_training_tokens(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", prose(100, seed=3))
    task = build(tmp_path, train_path=str(tmp_path / "a.txt"), val_ratio=0.2)
    train, val = task.tokens["train"], task.tokens["val"]
    n = len(train) + len(val)
    assert len(train) == int(n * 0.8) and train.filename == val.filename  # two views of one store file
    assert val[-1] == task.tokenizer.special_id("eos")
    assert task._chars_per_token["val"] == pytest.approx(1.0)  # characters, each document's end counted


def test_each_process_slices_only_its_own_windows(tmp_path: Path) -> None:
    task = build(tmp_path, demo_size=150)
    own = {r: list(task.rank_batches("train", batch_size=3, epoch_seed=5, start=0, rank=r, world=2)) for r in (0, 1)}
    default = {
        r: list(Task.rank_batches(task, "train", batch_size=3, epoch_seed=5, start=0, rank=r, world=2)) for r in (0, 1)
    }
    for r in (0, 1):  # the same batches as making every batch and keeping this rank's
        assert len(own[r]) == len(default[r]) > 0
        assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(own[r], default[r], strict=True))
    resumed = list(task.rank_batches("train", batch_size=3, epoch_seed=5, start=4, rank=1, world=2))
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(own[1][2:], resumed, strict=True))
    single = list(task.batches("train", batch_size=3, epoch_seed=5))
    assert all(
        torch.equal(single[2 * i + r]["input_ids"], own[r][i]["input_ids"]) for r in (0, 1) for i in range(len(own[1]))
    )


class CountedWindows:
    """A split's ids that count the windows sliced out of them (how many batches a process made)."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids, self.slices = ids, 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: object) -> np.ndarray:
        self.slices += 1
        return self.ids[index]  # type: ignore[index]


def test_evaluation_batches_are_shared_out_and_each_process_makes_only_its_own(tmp_path: Path) -> None:
    task = build(tmp_path, demo_size=150, val_ratio=0.3)
    every = list(task.eval_batches("val", batch_size=2))
    assert len(every) % 3 != 0  # an incomplete last round: evaluation keeps it (training drops it)
    counted = task.tokens["val"] = CountedWindows(task.tokens["val"])
    for rank in range(3):
        counted.slices = 0
        own = list(task.eval_rank_batches("val", batch_size=2, rank=rank, world=3))
        assert counted.slices == len(own) == len(every[rank::3])
        default = list(Task.eval_rank_batches(task, "val", batch_size=2, rank=rank, world=3))  # makes every batch
        for a, b, c in zip(own, default, every[rank::3], strict=True):
            assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], c["labels"])


@pytest.mark.parametrize(
    ("files", "spec", "expected"),
    [
        (
            {"a.txt": b"good text\n" * 3000 + b"bad \xff byte\n"},
            "a.txt",
            r"task.train_path: .*a.txt:3001: not valid UTF-8",
        ),
        (
            {"a.txt": b"ok\n", "b.txt": b"\x00\x01binary\x00" * 50},
            "*.txt",
            r"task.train_path: .*b.txt:1: a NUL byte .*binary",
        ),
        ({"a.txt": b"some text\n", "b.txt": b""}, "*.txt", r"task.train_path: .*b.txt: the file is empty \(part of"),
        ({"a.txt": b"text\n"}, "*.md", r"task.train_path: .*\*.md: the pattern matches no file"),
        (
            {"a.txt.gz": gzip.compress(prose(3000, seed=0).encode())[:5000]},
            "a.txt.gz",
            r"task.train_path: .*a.txt.gz: the gzip data is truncated",
        ),
        ({"a.txt": b""}, "a.txt", r"task.train_path=.*a.txt: no text"),
    ],
    ids=["bad-utf8-mid-file", "binary", "empty-in-glob", "no-match", "truncated-gz", "no-text"],
)
def test_bad_input_names_the_key_the_file_and_the_line(tmp_path: Path, files: dict, spec: str, expected: str) -> None:
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    with pytest.raises(DataError, match=expected):
        build(tmp_path, train_path=str(tmp_path / spec), val_path=str(tmp_path / next(iter(files))))
