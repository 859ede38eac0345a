"""Tokenizing a corpus into Plait's token store against the `tokenizers` library doing the same work directly.

    python tools/bench/token_store.py [--mb 24] [--threads 1 2] [--repeats 3]

A corpus of `--mb` MB of generated English-like lines (nothing downloaded) and a BPE tokenizer (vocabulary
2,000) trained on it are made once. Then each variant runs in a fresh process (the library's thread pool is
sized once per process, from RAYON_NUM_THREADS), interleaved, `--repeats` times per thread count:

- direct: lines read in batches of 10,000, `Tokenizer.encode_batch`, ids appended to a uint16 file (nanoGPT);
- plait:  the same batches through `framework.encode_batches` into `framework.prepare_store` (a store with
          offsets, written to a temporary directory, fsynced, renamed).

Timed from the loaded tokenizer to the ids on disk (imports excluded). Prints a markdown table: median wall
seconds, MB/s, tokens/s, CPU seconds (user + system, which other load on a shared machine changes less than
wall time), peak resident MB, and plait / direct.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

BATCH = 10_000
VOCAB = 2_000


def make_corpus(path: Path, mb: float, seed: int = 0) -> None:
    """Lines of Zipf-distributed made-up words (a few accented), about `mb` MB."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlucmfwypvbgkqjxzéü"))
    words = ["".join(rng.choice(letters, size=rng.integers(1, 10))) for _ in range(20_000)]
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < mb * 1e6:
            ids = np.minimum(rng.zipf(1.2, size=50_000), len(words)) - 1
            lengths = rng.integers(3, 30, size=len(ids) // 10)
            starts = np.concatenate([[0], np.cumsum(lengths)])
            lines = (" ".join(words[i] for i in ids[a:b]) for a, b in itertools.pairwise(starts) if b <= len(ids))
            f.write("\n".join(lines) + "\n")


def train_tokenizer(corpus: Path, out: Path) -> None:
    """A Metaspace BPE of VOCAB ids trained from an iterator over batches of lines, saved to `out`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "<unk>"], show_progress=False)
    with open(corpus, encoding="utf-8") as f:
        tok.train_from_iterator(batches(f), trainer=trainer)
    tok.save(str(out))


def batches(lines: Iterable[str]) -> Iterator[list[str]]:
    """Lists of up to BATCH lines, newline stripped."""
    it = iter(lines)
    while batch := [line.rstrip("\n") for line in itertools.islice(it, BATCH)]:
        yield batch


def run_direct(corpus: Path, tokenizer_json: Path, out: Path) -> tuple[float, int]:
    """The library alone: encode_batch per batch, ids appended to one uint16 file; (seconds, tokens)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    start, n = time.perf_counter(), 0
    with open(corpus, encoding="utf-8") as f, open(out, "wb") as sink:
        for batch in batches(f):
            encodings = tok.encode_batch(batch, add_special_tokens=False)
            ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), dtype=np.uint16)
            sink.write(ids.tobytes())
            n += len(ids)
    return time.perf_counter() - start, n


def run_plait(corpus: Path, tokenizer_json: Path, out: Path) -> tuple[float, int]:
    """Plait: encode_batches over the same batches into prepare_store; (seconds, tokens)."""
    from framework import TokenStoreWriter, encode_batches, prepare_store
    from plugins.tokenizers.hf_base import HFTokenizer

    tok = HFTokenizer()
    tok.load(tokenizer_json.parent)

    def fill(writer: TokenStoreWriter) -> None:
        with open(corpus, encoding="utf-8") as f:
            for ids in encode_batches(tok, batches(f)):
                writer.append(ids)

    start = time.perf_counter()
    n = prepare_store(out, fill, vocab_size=tok.vocab_size).n_tokens
    return time.perf_counter() - start, n


def child(variant: str, corpus: Path, tokenizer_json: Path, out: Path) -> None:
    """One run in this fresh process, timed from the loaded tokenizer to the written ids; prints a JSON line."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall, n = (run_direct if variant == "direct" else run_plait)(corpus, tokenizer_json, out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"wall": wall, "cpu": cpu, "tokens": n, "rss_mb": usage.ru_maxrss / 1024}))


def main() -> None:
    """Make the corpus and tokenizer, run both variants interleaved, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=24)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], *(Path(p) for p in args.child[1:]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus, tokenizer_json = work / "corpus.txt", work / "tok" / "tokenizer.json"
        make_corpus(corpus, args.mb)
        tokenizer_json.parent.mkdir()
        train_tokenizer(corpus, tokenizer_json)
        mb = corpus.stat().st_size / 1e6
        print(f"corpus {mb:.1f} MB, BPE vocabulary {VOCAB}, batches of {BATCH:,} lines, {os.cpu_count()} CPUs\n")
        print("| threads | variant | median s | MB/s | M tokens/s | CPU s | peak RSS MB | plait / direct (wall, CPU) |")
        print("|---|---|---|---|---|---|---|---|")
        for threads in args.threads:
            runs: dict[str, list[dict[str, float]]] = {"direct": [], "plait": []}
            for i, variant in itertools.product(range(args.repeats), runs):
                out = work / f"{variant}-{threads}-{i}"
                env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "PYTHONPATH": str(Path.cwd())}
                cmd = [sys.executable, __file__, "--child", variant, str(corpus), str(tokenizer_json), str(out)]
                done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            direct = {k: statistics.median(r[k] for r in runs["direct"]) for k in ("wall", "cpu")}
            for variant, rs in runs.items():
                wall, cpu = (statistics.median(r[k] for r in rs) for k in ("wall", "cpu"))
                ratio = f"{wall / direct['wall']:.2f}, {cpu / direct['cpu']:.2f}" if variant == "plait" else ""
                print(
                    f"| {threads} | {variant} | {wall:.2f} | {mb / wall:.1f} | {rs[0]['tokens'] / wall / 1e6:.2f} "
                    f"| {cpu:.2f} | {max(r['rss_mb'] for r in rs):.0f} | {ratio} |"
                )


if __name__ == "__main__":
    main()
