"""Plait's data preparation at scale against the `tokenizers` library doing the same work directly, side by side.

    python tools/bench/data_scale.py [--sizes 25,200,1000] [--rows 2000000] [--pairs 2000000] [--steps 100]

Corpora are generated (tools/bench/corpora.py, seeded; nothing downloaded) into a temporary directory: plain text
of each `--sizes` MB for language modelling, a `--rows` row classification TSV and a `--pairs` pair parallel corpus
(0 or an empty list skips a case). Each measurement runs in its own process; peak resident memory is that
process's own (ru_maxrss: VmHWM at exit). Per corpus:

- direct:  the library alone: BPE (NFC; Plait's pre-tokenizer, `metaspace_words`: whitespace other than spaces split
           off, then Metaspace; vocabulary 2,000, min_frequency 2, Plait's 7 special tokens),
           `train_from_iterator` over batches of 10,000 lines, then `encode_batch` per batch into a uint16 file;
- setup:   Plait's first start on an empty cache: `plait prepare <overrides>` when the command exists, else the
           one build path (`framework.engine.build.build`, mode=train): read, train the tokenizer, tokenize into
           the store (and build the small model);
- second:  `plait train` again on the filled cache: seconds from process start to the first step
           (`sys/startup_s`), beside the same command on a tiny corpus of the same kind;
- store / memory: the same model trained `--steps` steps from the memory-mapped store, and from in-memory copies
           of it (tokenizer loaded from the second run), `--repeats` times each, interleaved (medians): tokens/s,
           tokens per CPU second (what a busy shared machine disturbs least) and `sys/data_wait_share`.

Prints the machine (lscpu model, threads, load average), the command, and a markdown table; `--json` writes rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import corpora

ROOT = Path(__file__).resolve().parents[2]
BATCH, VOCAB = 10_000, 2_000
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>", "<cls>", "<sep>", "<mask>"]
SMALL = ["model.d_model=128", "model.n_heads=4", "model.n_layers=2", "model.d_ff=512", "model.max_length=64"]
RUN = ["precision=fp32", "logger=[jsonl]", "trainer.device=cpu", "trainer.batch_size=32", "tokenizer=bpe"]
RUN += [f"tokenizer.vocab_size={VOCAB}", "trainer.eval_every_n_steps=0", "trainer.checkpoint_every_n_steps=0"]
EVAL_LIMIT = 20_000  # examples (LM: tokens) of the final evaluation of each training run (timed before it ends)
FEED_KEYS = ("tokens_per_s", "tokens_per_cpu_s", "data_wait_share")
KINDS: dict[str, list[str]] = {
    "lm": ["task=language_modeling", "model=transformer_decoder", "task.block_size=64"],
    "classification": ["task=text_classification", "model=transformer_encoder", "task.max_length=64"],
    "parallel": ["task=translation", "model=transformer_seq2seq", "task.max_length=64", "task.source_lang=src"]
    + ["task.target_lang=tgt", "task.shared_vocab=true", "task.eval_decode_limit=100"],
}


# -- children: each measurement in a fresh process ------------------------------------------------------------


def cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used: what other load on the machine changes
    far less than wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lines_of(paths: list[str], column: int | None) -> Any:
    """Batches of BATCH lines of `paths` (newline stripped; with `column`: that TSV field, header skipped)."""
    for path in paths:
        with open(path, encoding="utf-8") as f:
            if column is not None:
                next(f)
            batch: list[str] = []
            for line in f:
                line = line.rstrip("\n")
                batch.append(line.split("\t")[column] if column is not None else line)
                if len(batch) == BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch


def direct(job: dict[str, Any]) -> dict[str, Any]:
    """The library alone: train from batches of lines, encode each batch into one uint16 file."""
    import numpy as np
    from tokenizers import Tokenizer, models, normalizers, trainers

    from plugins.tokenizers.hf_base import metaspace_words  # the library's objects, as Plait's bpe configures them

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer, (tok.pre_tokenizer, _) = normalizers.NFC(), metaspace_words()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    start, cpu = time.perf_counter(), cpu_s()
    tok.train_from_iterator(lines_of(job["files"], job["column"]), trainer=trainer)
    n = 0
    with open(Path(job["out"]) / "direct.bin", "wb") as sink:
        for batch in lines_of(job["files"], job["column"]):
            ids = [e.ids for e in tok.encode_batch(batch, add_special_tokens=False)]
            flat = np.fromiter((t for seq in ids for t in seq), dtype=np.uint16)
            sink.write(flat.tobytes())
            n += len(flat)
    return {"seconds": time.perf_counter() - start, "cpu_s": cpu_s() - cpu, "tokens": n}


def setup(job: dict[str, Any]) -> dict[str, Any]:
    """Plait's first start: `plait prepare` when it exists, else the build path (task setup inside)."""
    import importlib.util

    start, cpu = time.perf_counter(), cpu_s()
    if importlib.util.find_spec("framework.cli.commands.prepare") is not None:
        from framework.cli import main

        main(["prepare", *job["overrides"]])
        how = "plait prepare"
    else:
        from framework.engine.build import build
        from framework.testing import compose

        build(compose(job["overrides"], quick=False), job["run"], mode="train")
        how = "build()"
    return {"seconds": time.perf_counter() - start, "cpu_s": cpu_s() - cpu, "how": how}


def train_cli(job: dict[str, Any]) -> dict[str, Any]:
    """`plait train` (a second start): the run's metrics."""
    from framework.cli import main

    main(["train", *job["overrides"], f"hydra.run.dir={job['run']}"])
    return metrics(Path(job["run"]))


def to_memory(obj: Any, depth: int = 0) -> Any:
    """`obj` with every token store or memory map inside it (attributes, dicts, lists) replaced by an in-memory
    copy."""
    import numpy as np

    from framework import Ragged, TokenStore

    if isinstance(obj, TokenStore):
        return Ragged(np.array(obj.flat), np.array(obj.offsets))
    if isinstance(obj, np.memmap):  # a view of a store (an LM split's ids)
        return np.array(obj)
    if depth > 4 or isinstance(obj, (str, bytes, int, float, np.ndarray)) or obj is None:
        return obj
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            obj[key] = to_memory(value, depth + 1)
    elif isinstance(obj, list):
        obj[:] = [to_memory(v, depth + 1) for v in obj]
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("plugins"):
        for key, value in list(vars(obj).items()):
            if (copied := to_memory(value, depth + 1)) is not value:
                setattr(obj, key, copied)
    return obj


def train_fit(job: dict[str, Any]) -> dict[str, Any]:
    """`--steps` steps from the store, or from in-memory copies of it (`memory`), tokenizer loaded from a run."""
    from framework.engine.build import build, saved_tokenizers
    from framework.kinds import TASKS
    from framework.testing import compose

    cfg = compose([*job["overrides"], f"trainer.max_steps={job['steps']}"], quick=False)
    task = TASKS.build(cfg.task)
    spec = task.setup(saved_tokenizers(cfg.tokenizer, Path(job["tokenizer_run"])))
    if job["memory"]:
        to_memory(task)
    task.setup = lambda factory: spec  # type: ignore[method-assign]  # ready: the build path skips reading
    batches, seen = task.rank_batches, [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        for batch in batches(*args, **kwargs):
            seen[0] += batch.n_tokens
            yield batch

    task.rank_batches = counted  # type: ignore[method-assign]  # what the trainer's epochs walk
    Path(job["run"]).mkdir(parents=True, exist_ok=True)
    trainer = build(cfg, job["run"], mode="train", task=task).trainer()
    cpu = cpu_s()
    trainer.fit()
    return {**metrics(Path(job["run"])), "tokens_per_cpu_s": seen[0] / (cpu_s() - cpu)}


def metrics(run: Path) -> dict[str, Any]:
    """Startup seconds, mean tokens/s and data-wait share (the first logged row left out) of a run's metrics."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "train/loss" in r]
    speed = [r for r in rows[1:] if "train/tokens_per_s" in r] or rows
    return {
        "startup_s": rows[0].get("sys/startup_s"),
        "tokens_per_s": sum(r["train/tokens_per_s"] for r in speed) / len(speed),
        "data_wait_share": sum(r.get("sys/data_wait_share", 0.0) for r in speed) / len(speed),
    }


def child(kind: str, job: dict[str, Any]) -> None:
    """Run one measurement in this process and print it as the last line, with this process's peak memory."""
    import resource

    out = {"direct": direct, "setup": setup, "train": train_cli, "fit": train_fit}[kind](job)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\n" + json.dumps(out))


# -- the driver -----------------------------------------------------------------------------------------------


def spawn(kind: str, job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run `kind` in a fresh process; its result, with the process's wall seconds."""
    start = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", kind, json.dumps(job)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        return {"error": f"{kind} failed (exit {done.returncode}):\n{tail}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - start
    return result


def make_corpus(kind: str, amount: float, where: Path) -> tuple[str, list[str], int | None]:
    """(train_path for Plait, the files the direct pipeline reads, TSV column or None) of a new corpus."""
    where.mkdir(parents=True)
    if kind == "lm":
        corpora.write_text(where / "corpus.txt", amount)
        return str(where / "corpus.txt"), [str(where / "corpus.txt")], None
    if kind == "classification":
        corpora.write_tsv(where / "train.tsv", int(amount))
        return str(where / "train.tsv"), [str(where / "train.tsv")], 0
    spec = corpora.write_parallel(where, int(amount))
    return spec, [spec.format(lang="src"), spec.format(lang="tgt")], None


def measure(
    kind: str, amount: float, work: Path, steps: int, repeats: int, env: dict[str, str], start: bool = True
) -> dict[str, Any]:
    """Every measurement of one corpus (and its tiny twin for the startup reference); `start=False`: only the
    direct pipeline and the setup."""
    name = f"{kind}-{amount:g}MB" if kind == "lm" else f"{kind}-{int(amount)}"
    spec, files, column = make_corpus(kind, amount, work / name)
    size_mb = sum(Path(f).stat().st_size for f in files) / 1e6
    env = {**env, "PLAIT_CACHE_DIR": str(work / name / "cache")}
    base = [*RUN, *KINDS[kind], *SMALL, f"task.train_path='{spec}'"]
    row: dict[str, Any] = {"corpus": name, "mb": round(size_mb, 1)}
    row["direct"] = spawn("direct", {"files": files, "column": column, "out": str(work / name)}, env)
    row["setup"] = spawn("setup", {"overrides": base, "run": str(work / name / "setup")}, env)
    if not start:
        return row
    tiny_spec, _, _ = make_corpus(kind, 0.05 if kind == "lm" else 1000, work / f"{name}-tiny")
    train = [*base, "trainer.max_steps=1", "trainer.log_every_n_steps=1", f"task.eval_limit={EVAL_LIMIT}"]
    row["second"] = spawn("train", {"overrides": train, "run": str(work / name / "second")}, env)
    tiny = [*RUN, *KINDS[kind], *SMALL, f"task.train_path='{tiny_spec}'", "trainer.max_steps=1"]
    tiny += ["trainer.log_every_n_steps=1", f"task.eval_limit={EVAL_LIMIT}"]
    row["tiny"] = spawn("train", {"overrides": tiny, "run": str(work / name / "tiny")}, env)
    runs: dict[str, list[dict[str, Any]]] = {"store": [], "memory": []}
    for i, feed in itertools.product(range(repeats), runs):  # interleaved: the machine's load hits both alike
        fit = [*base, "trainer.log_every_n_steps=10", f"task.eval_limit={EVAL_LIMIT}"]  # a bounded final evaluation
        job = {"overrides": fit, "steps": steps, "memory": feed == "memory"}
        job |= {"run": str(work / name / f"{feed}-{i}"), "tokenizer_run": str(work / name / "second")}
        runs[feed].append(spawn("fit", job, env))
    for feed, results in runs.items():
        done = [r for r in results if "error" not in r]
        row[feed] = {k: statistics.median(r[k] for r in done) for k in FEED_KEYS} if done else results[0]
        row[feed]["runs"] = [{k: r[k] for k in FEED_KEYS} for r in done]  # each repeat, for the spread
    return row


def machine() -> str:
    """CPU model, threads and load average, for the report."""
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}; {os.cpu_count()} threads (affinity {len(os.sched_getaffinity(0))}); load average {load}"


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of every corpus."""

    def get(row: dict[str, Any], part: str, key: str, fmt: str = ".1f") -> str:
        value = row.get(part, {}).get(key)
        return format(value, fmt) if isinstance(value, (int, float)) else "—"

    head = "| corpus | MB | direct s (CPU s) | direct peak MB | Plait setup s (CPU s) | Plait peak MB "
    head += "| setup / direct: wall, CPU | 2nd start to step 1 s | tiny run s | tokens/s store | tokens/s memory "
    head += "| store / memory: wall, CPU | data wait |"
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        d, s = r.get("direct", {}), r.get("setup", {})
        st, mem = (r.get(feed, {}).get("tokens_per_s") for feed in ("store", "memory"))
        st_cpu, mem_cpu = (r.get(feed, {}).get("tokens_per_cpu_s") for feed in ("store", "memory"))
        feed = f"{st / mem:.3f}, {st_cpu / mem_cpu:.3f}" if st and mem and st_cpu and mem_cpu else "—"
        ratios = (
            f"{s['seconds'] / d['seconds']:.2f}, {s['cpu_s'] / d['cpu_s']:.2f}"
            if "cpu_s" in d and "cpu_s" in s
            else "—"
        )
        lines.append(
            f"| {r['corpus']} | {r['mb']} | {get(r, 'direct', 'seconds')} ({get(r, 'direct', 'cpu_s')}) "
            f"| {get(r, 'direct', 'peak_mb', '.0f')} | {get(r, 'setup', 'seconds')} ({get(r, 'setup', 'cpu_s')}) "
            f"| {get(r, 'setup', 'peak_mb', '.0f')} | {ratios} | {get(r, 'second', 'startup_s')} "
            f"| {get(r, 'tiny', 'startup_s')} | {get(r, 'store', 'tokens_per_s', '.0f')} "
            f"| {get(r, 'memory', 'tokens_per_s', '.0f')} | {feed} "
            f"| {get(r, 'store', 'data_wait_share', '.3f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Generate the corpora, measure each case in its own processes, print the machine, the command, the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="25,200,1000", help="LM corpus sizes in MB, comma-separated ('' skips)")
    ap.add_argument("--rows", type=int, default=2_000_000, help="classification TSV rows (0 skips)")
    ap.add_argument("--pairs", type=int, default=2_000_000, help="parallel corpus pairs (0 skips)")
    ap.add_argument("--steps", type=int, default=100, help="training steps of the store / memory comparison")
    ap.add_argument("--repeats", type=int, default=3, help="store / memory trainings each, interleaved (medians)")
    ap.add_argument("--setup-only", action="store_true", help="measure the direct pipeline and the setup only")
    ap.add_argument("--workdir", help="where corpora and caches go (default: a temporary directory, removed)")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], json.loads(args.child[1]))
        return []
    cases = [("lm", float(mb)) for mb in args.sizes.split(",") if mb.strip()]
    cases += [("classification", float(args.rows))] * bool(args.rows) + [("parallel", float(args.pairs))] * bool(
        args.pairs
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    print(f"machine: {machine()}\ncommand: python {shlex.join(['tools/bench/data_scale.py', *(argv or sys.argv[1:])])}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for kind, amount in cases:
            rows.append(measure(kind, amount, Path(tmp), args.steps, args.repeats, env, not args.setup_only))
            for part, result in rows[-1].items():
                if isinstance(result, dict) and "error" in result:
                    print(f"{rows[-1]['corpus']} {part}: {result['error']}", file=sys.stderr)
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n\n{table(rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
