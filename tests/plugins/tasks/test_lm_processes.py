"""Language-model data across processes: a preparation killed (SIGKILL) or interrupted (Ctrl-C) mid-write leaves no
store and the next run prepares it cleanly; under torchrun (gloo, 2 processes) one process prepares the store, each
reads only its own windows, and training equals one process with the double batch."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from framework.engine.tokenizer_factory import training_tokenizers
from framework.kinds import TASKS, TOKENIZERS

REPO = Path(__file__).resolve().parents[3]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]  # --standalone: a free port per job
WORDS = ["the", "king", "speaks", "softly", "to", "his", "court", ",", ".", "and", "all", "hear", "him"]

# Prepares a char-level LM store for CORPUS in CACHE; the 4th encode batch touches FLAG and sleeps SLEEP seconds.
PREPARER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with Ctrl-C ignored
from pathlib import Path
from framework.engine.tokenizer_factory import training_tokenizers
from framework.kinds import TASKS, TOKENIZERS
from framework.plugins import load_plugins
from plugins.tasks import lm_corpus
from plugins.tokenizers.char import CharTokenizer
load_plugins()
corpus, cache, flag, sleep = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
lm_corpus.BATCH_CHARS = 50_000
encode, calls = CharTokenizer.encode_batch, []
def slow(self, texts):
    calls.append(1)
    if len(calls) == 4:
        flag.touch()
        time.sleep(sleep)
    return encode(self, texts)
CharTokenizer.encode_batch = slow
task = TASKS.build(TASKS.config("language_modeling", train_path=corpus, cache_dir=cache, block_size=8))
task.setup(training_tokenizers(TOKENIZERS.config("char"), Path(cache).parent / "killed-run", None))
"""

# Under torchrun: set up the task from one shared cache, then write this rank's windows and cache counts to OUT.
RANK_WINDOWS = """
import json, sys
from pathlib import Path
from framework.engine import distributed
from framework.engine.tokenizer_factory import training_tokenizers
from framework.kinds import TASKS, TOKENIZERS
from framework.plugins import load_plugins
from plugins.tasks.token_cache import STATS
load_plugins()
distributed.init()
corpus, cache, run, out = sys.argv[1:5]
task = TASKS.build(TASKS.config("language_modeling", train_path=corpus, cache_dir=cache, block_size=16))
task.setup(training_tokenizers(TOKENIZERS.config("char"), Path(run), None))
rank, world = distributed.rank(), distributed.world_size()
batches = task.rank_batches("train", batch_size=4, epoch_seed=7, start=0, rank=rank, world=world)
windows = [row.tolist() for batch in batches for row in batch["input_ids"]]
Path(out, f"rank{rank}.json").write_text(json.dumps({**STATS, "windows": windows}))
distributed.teardown()
"""


def corpus(path: Path, n_lines: int) -> Path:
    rng = random.Random(0)
    lines = (f"{i} " + " ".join(rng.choice(WORDS) for _ in range(12)) for i in range(n_lines))
    path.write_text("\n".join(lines) + "\n")
    return path


def numbers(path: Path, n_lines: int) -> Path:
    """Consecutive numbers, 20 a line: every window of 16 characters occurs once."""
    path.write_text("".join(" ".join(str(20 * i + j) for j in range(20)) + "\n" for i in range(n_lines)))
    return path


def env() -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        out.pop(key, None)
    return out


def entries(cache: Path) -> list[Path]:
    """Every directory under the cache's stores: complete stores and hidden temporary ones (not lock files)."""
    return sorted(p for p in (cache / "tokens").glob("*/*") if p.is_dir())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_preparation_leaves_no_store_and_the_next_run_prepares_it(tmp_path: Path, sig: int) -> None:
    text = corpus(tmp_path / "corpus.txt", 6000)  # ~0.4 MB: 8 encode batches of 50,000 characters
    cache, flag = tmp_path / "cache", tmp_path / "started"
    cmd = [sys.executable, "-c", PREPARER, str(text), str(cache), str(flag), "120" if sig == signal.SIGKILL else "3"]
    proc = subprocess.Popen(cmd, env=env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    left = entries(cache)
    assert not any((p / "meta.json").exists() for p in left), left  # nothing complete was published
    if sig == signal.SIGINT:
        assert left == [] and "KeyboardInterrupt" in err  # Ctrl-C removes what was written
    else:
        assert len(left) == 1 and (left[0] / "tokens.bin").stat().st_size > 0  # killed mid-write
    cfg = TASKS.config("language_modeling", train_path=str(text), cache_dir=str(cache), block_size=8)
    task = TASKS.build(cfg)
    task.setup(training_tokenizers(TOKENIZERS.config("char"), tmp_path / "run", None))
    assert [p.name for p in entries(cache)] == [Path(task.data.store("train").path).name]  # leftovers removed
    whole = [*task.tokenizer.encode(text.read_text()), task.tokenizer.special_id("eos")]
    assert np.asarray(task.data.store("train").flat).tolist() == whole


def test_under_torchrun_one_process_prepares_and_each_reads_its_own_windows(tmp_path: Path) -> None:
    text = numbers(tmp_path / "corpus.txt", 150)
    script = tmp_path / "windows.py"
    script.write_text(RANK_WINDOWS)
    launch = [*TORCHRUN, "--nproc_per_node", "2", str(script)]
    cache, run = tmp_path / "cache", tmp_path / "run"
    args = [str(text), str(cache), str(run), str(tmp_path)]
    proc = subprocess.run([*launch, *args], env=env(), cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(r["misses"] for r in ranks) == [0, 1] and sorted(r["hits"] for r in ranks) == [0, 1]
    mine, theirs = ({tuple(w) for w in r["windows"]} for r in ranks)
    assert len(mine) == len(ranks[0]["windows"]) == len(ranks[1]["windows"]) > 0 and not mine & theirs
    cfg = TASKS.config("language_modeling", train_path=str(text), cache_dir=str(cache), block_size=16)
    single = TASKS.build(cfg)
    single.setup(training_tokenizers(TOKENIZERS.config("char"), tmp_path / "single", None))
    rounds = list(single.batches("train", batch_size=4, epoch_seed=7))
    rounds = rounds[: len(rounds) - len(rounds) % 2]
    assert mine | theirs == {tuple(row.tolist()) for batch in rounds for row in batch["input_ids"]}


LM_RUN = ["task=language_modeling", "task.demo_size=300", "task.block_size=16", "tokenizer=char"]
LM_RUN += ["model=transformer_decoder", "model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64"]
LM_RUN += ["model.max_length=64", "model.dropout=0.0", "precision=fp32", "logger=[jsonl]", "trainer.device=cpu"]
LM_RUN += ["trainer.max_steps=8", "trainer.log_every_n_steps=1", "trainer.eval_every_n_steps=8", "objective=val/loss"]


def train_losses(run_dir: Path, nproc: int, batch_size: int, cache: Path) -> dict[int, float]:
    launcher = [*TORCHRUN, f"--nproc_per_node={nproc}", "-m"] if nproc > 1 else [sys.executable, "-m"]
    cmd = [*launcher, "framework.cli", "train", *LM_RUN, f"trainer.batch_size={batch_size}", f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(
        cmd, env={**env(), "PLAIT_CACHE_DIR": str(cache)}, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}


def test_two_processes_with_batch_b_train_as_one_with_batch_2b(tmp_path: Path) -> None:
    two = train_losses(tmp_path / "two", 2, 4, tmp_path / "cache")
    one = train_losses(tmp_path / "one", 1, 8, tmp_path / "cache")
    assert two.keys() == one.keys() == set(range(1, 9))
    assert all(abs(two[k] - one[k]) <= 1e-5 * abs(one[k]) for k in one), (two, one)
