"""Compute efficiency: the model FLOP/s each run achieves in training against this CPU's own peak matmul FLOP/s.

    python tools/bench/utilisation.py --data-root ../shared/data [--only main,shakespeare_char_gpt]
        [--variant 'shakespeare_char_gpt fp32=shakespeare_char_gpt:precision=fp32'] [--json out.json]

For the main job (`plait train`) and each experiment of docs/results.md, `plait train` runs briefly (a bounded
number of steps, logging every few, no evaluation and no periodic checkpoint; the process is stopped after its
last training row so the final evaluation is not waited for). Rows of metrics.jsonl are read as they appear and the
process's CPU seconds (/proc/<pid>/stat, all its threads) are sampled at each; the first window (warm-up, compile)
is dropped, the rest is the steady state: tokens/s from the rows' own rates and `sys/elapsed_s`, CPU seconds over
the same windows.

FLOPs per token: the run's own model summary (`model_summary.json`, written by
`framework.engine.model_summary.summarize_model`: FlopCounterMode over one forward and backward of one training
batch), the one definition in the project (issue 25); the `6 x parameters` rule of issue 22 is shown beside it.

Peak: `torch.mm` of square matrices in fp32 and bf16, on one thread and on all threads, measured by this script
between the runs (before and after each, averaged), so every utilisation is taken against a peak measured under
the same load. Two utilisations per run:

- wall: achieved model FLOP/s / peak FLOP/s (wall clock) at the run's thread count, both under the load of the
  moment;
- per CPU-second: model FLOPs per CPU-second the run used / peak matmul FLOPs per CPU-second on one thread (what a
  core does when it computes; neighbours that take the core away cost wall time, not CPU seconds).

The machine is shared: the load average is printed with every row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CPUS = len(os.sched_getaffinity(0))
TICK = os.sysconf("SC_CLK_TCK")
BF16_PRECISIONS = ("amp_bf16", "bf16")  # runs whose matmuls are bf16 on CPU


@dataclass
class Job:
    """One run to measure: a label, its experiment (None: the main job) and extra overrides."""

    label: str
    experiment: str | None
    overrides: list[str] = field(default_factory=list)
    steps: int = 30
    log_every: int = 5


# Steps and logging cadence per experiment: enough windows past warm-up on a loaded 2-core machine, a minute or two.
JOBS: dict[str, Job] = {
    "main": Job("main job (`plait train`)", None, steps=60, log_every=10),
    "shakespeare_char_gpt": Job("shakespeare_char_gpt", "shakespeare_char_gpt"),
    "shakespeare_bpe_gpt": Job("shakespeare_bpe_gpt", "shakespeare_bpe_gpt"),
    "sst2_lstm_glove": Job("sst2_lstm_glove", "sst2_lstm_glove", steps=60, log_every=10),
    "sst5_transformer": Job("sst5_transformer", "sst5_transformer", steps=60, log_every=10),
    "multi30k_transformer": Job("multi30k_transformer", "multi30k_transformer"),
    "multi30k_gru_attention": Job("multi30k_gru_attention", "multi30k_gru_attention"),
    "babi_1k_joint": Job("babi_1k_joint", "babi_1k_joint", steps=200, log_every=40),
    "babi_10k_joint": Job("babi_10k_joint", "babi_10k_joint", steps=200, log_every=40),
    "squad_dev_split_extractive": Job("squad_dev_split_extractive", "squad_dev_split_extractive", steps=20),
}


@dataclass
class Peak:
    """Matmul FLOP/s for one dtype and thread count: by wall clock and per CPU-second of this process."""

    dtype: str
    threads: int
    wall_flops: float
    cpu_flops: float


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def probe_peak(dtype_name: str, threads: int, seconds: float = 0.8) -> Peak:
    """Square `torch.mm` (fp32: 1024, bf16: 2048) repeated for about `seconds` after one warm-up product."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    n = 1024 if dtype_name == "fp32" else 2048
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.mm(a, b)
        products, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - wall0 < seconds:
            torch.mm(a, b)
            products += 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        torch.set_num_threads(before)
    flops = 2.0 * n**3 * products
    return Peak(dtype_name, threads, flops / wall, flops / max(cpu, 1e-9))


def probe_all() -> dict[str, Peak]:
    """Every dtype on one thread and on all threads, keyed "fp32/1", "bf16/2"..."""
    peaks = {}
    for dtype in ("fp32", "bf16"):
        for threads in sorted({1, CPUS}):
            peaks[f"{dtype}/{threads}"] = probe_peak(dtype, threads)
    return peaks


def mean_peaks(samples: list[dict[str, Peak]]) -> dict[str, Peak]:
    """The probes around one run, averaged per key."""
    return {
        key: Peak(
            samples[0][key].dtype,
            samples[0][key].threads,
            statistics.fmean(s[key].wall_flops for s in samples),
            statistics.fmean(s[key].cpu_flops for s in samples),
        )
        for key in samples[0]
    }


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process (all its threads); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


@dataclass
class Measured:
    """A short run's steady state and its model summary."""

    label: str
    precision: str
    threads: float
    tokens_per_s: float
    cpu_s: float
    wall_s: float
    tokens: float
    flops_per_token: float | None
    rule_flops_per_token: float
    parameters: int
    load: float
    error: str | None = None


def plait_command(job: Job, run_dir: Path, data_root: Path) -> list[str]:
    """`plait train` for the job, short: jsonl only, no evaluation, no periodic checkpoints."""
    cmd = [sys.executable, "-m", "framework.cli", "train"]
    if job.experiment:
        cmd += [f"experiment={job.experiment}", f"data_root={data_root}"]
    return [
        *cmd,
        f"trainer.max_steps={job.steps}",
        f"trainer.log_every_n_steps={job.log_every}",
        "trainer.eval_every_n_steps=0",
        "trainer.checkpoint_every_n_steps=0",
        "logger=[jsonl]",
        f"hydra.run.dir={run_dir}",
        *job.overrides,
    ]


def train_rows(path: Path) -> list[dict]:
    """The training rows written so far (a half-written last line is left for the next read)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            break
        if "train/loss" in row:
            rows.append(row)
    return rows


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the run (it has logged what we need), waiting for it to exit."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def precision_of(run_dir: Path, log: str) -> str:
    """The precision the run used: the run's config (`precision._name_`, resolved from auto), else its log line."""
    try:
        import yaml

        name = yaml.safe_load((run_dir / "config.yaml").read_text())["precision"]["_name_"]
        if name and name != "auto":
            return str(name)
    except (OSError, KeyError, TypeError, ValueError):
        pass
    for line in log.splitlines():
        if line.startswith("precision:"):
            resolved = line.split("->", 1)[1] if "->" in line else line.split("=", 1)[-1]
            return resolved.split()[0]
    return "unknown"


def measure(job: Job, data_root: Path, tmp: Path, timeout_s: float) -> Measured:
    """Run the job, sampling CPU seconds at each training row; the steady state is every window after the first."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", job.label).strip("_")  # also a safe Hydra override value
    run_dir, log_path = tmp / slug, tmp / f"{slug}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    load = load_average()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(plait_command(job, run_dir, data_root), cwd=ROOT, env=env, stdout=log, stderr=log)
        cpu_at: list[float] = []
        start = time.perf_counter()
        try:
            while proc.poll() is None and time.perf_counter() - start < timeout_s:
                rows = train_rows(run_dir / "metrics.jsonl")
                while len(cpu_at) < len(rows):
                    cpu_at.append(process_cpu_s(proc.pid) or 0.0)
                if rows and rows[-1]["step"] >= job.steps:
                    break
                time.sleep(0.1)
        finally:
            stop(proc)
    text = log_path.read_text(errors="replace")
    summary = (
        json.loads((run_dir / "model_summary.json").read_text()) if (run_dir / "model_summary.json").exists() else {}
    )
    rows = train_rows(run_dir / "metrics.jsonl")[: len(cpu_at)]
    base = dict(label=job.label, precision=precision_of(run_dir, text), load=(load + load_average()) / 2)
    if len(rows) < 3 or not summary:
        tail = " | ".join(text.strip().splitlines()[-3:])
        return Measured(**base, threads=0, tokens_per_s=0, cpu_s=0, wall_s=0, tokens=0, flops_per_token=None,
                        rule_flops_per_token=summary.get("rule_flops_per_token", 0), parameters=summary.get("parameters", 0),
                        error=f"{len(rows)} training rows in {time.perf_counter() - start:.0f} s: {tail}")  # fmt: skip
    unit = "tokens" if "train/tokens_per_s" in rows[0] else "samples"
    batch = summary.get("batch", {"samples": 1, "tokens": 1})
    per_unit_tokens = 1.0 if unit == "tokens" else batch["tokens"] / max(batch["samples"], 1)
    wall = tokens = 0.0
    # rows[1] closes the warm-up window; the windows after it are the steady state
    for prev, row in zip(rows[1:-1], rows[2:], strict=True):
        dt = row["sys/elapsed_s"] - prev["sys/elapsed_s"]
        wall += dt
        tokens += row[f"train/{unit}_per_s"] * dt * per_unit_tokens
    return Measured(
        **base,
        threads=statistics.fmean(r.get("sys/threads", CPUS) for r in rows[2:]),
        tokens_per_s=tokens / wall,
        cpu_s=cpu_at[-1] - cpu_at[1],
        wall_s=wall,
        tokens=tokens,
        flops_per_token=summary.get("flops_per_token"),
        rule_flops_per_token=summary["rule_flops_per_token"],
        parameters=summary["parameters"],
    )


def utilisation(m: Measured, peaks: dict[str, Peak]) -> dict[str, float]:
    """Achieved model FLOP/s (measured and 6N), and utilisation by wall clock and per CPU-second."""
    dtype = "bf16" if m.precision in BF16_PRECISIONS else "fp32"
    fpt = m.flops_per_token or m.rule_flops_per_token
    achieved = fpt * m.tokens_per_s
    threads = max(1, min(CPUS, round(m.threads)))
    wall_peak = peaks[f"{dtype}/{threads}"].wall_flops
    per_cpu = fpt * m.tokens / max(m.cpu_s, 1e-9)
    return {
        "model_flops_per_s": achieved,
        "rule_flops_per_s": m.rule_flops_per_token * m.tokens_per_s,
        "peak_wall": wall_peak,
        "util_wall": achieved / wall_peak,
        "flops_per_cpu_s": per_cpu,
        "peak_per_cpu_s_1t": peaks[f"{dtype}/1"].cpu_flops,
        "util_cpu": per_cpu / peaks[f"{dtype}/1"].cpu_flops,
        "cpu_share": m.cpu_s / max(m.wall_s, 1e-9),
    }


def giga(x: float) -> str:
    """GFLOP/s with three significant digits."""
    return f"{x / 1e9:.3g}"


def table(results: list[tuple[Measured, dict[str, float]]]) -> str:
    """The markdown table of all runs."""
    lines = [
        "| run | precision | threads | tokens/s | FLOPs/token measured (6N) | model GFLOP/s (6N) | peak GFLOP/s "
        "(same load, wall) | utilisation (wall) | CPU s / wall s | model GFLOP per CPU-s | peak per CPU-s, "
        "1 thread | utilisation per CPU-s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m, u in results:
        if m.error:
            lines.append(f"| {m.label} | {m.precision} | — | not measured: {m.error} |" + " |" * 9)
            continue
        fpt = f"{m.flops_per_token / 1e6:.3g}M" if m.flops_per_token else "not measured"
        lines.append(
            f"| {m.label} | {m.precision} | {m.threads:.1f} | {m.tokens_per_s:,.0f} | {fpt} "
            f"({m.rule_flops_per_token / 1e6:.3g}M) | {giga(u['model_flops_per_s'])} ({giga(u['rule_flops_per_s'])}) | "
            f"{giga(u['peak_wall'])} | {u['util_wall']:.1%} | {m.cpu_s:.1f} / {m.wall_s:.1f} | "
            f"{giga(u['flops_per_cpu_s'])} | {giga(u['peak_per_cpu_s_1t'])} | {u['util_cpu']:.1%} | {m.load:.1f} |"
        )
    return "\n".join(lines)


def parse_variant(text: str) -> Job:
    """'LABEL=EXPERIMENT:override,override' (EXPERIMENT `main` for the main job) -> a Job; `trainer.max_steps` and
    `trainer.log_every_n_steps` among the overrides set the job's length and cadence (the run is read by them)."""
    label, _, rest = text.partition("=")
    name, _, overrides = rest.partition(":")
    if not label or name not in JOBS:
        raise SystemExit(
            f"--variant {text!r}: expected LABEL=EXPERIMENT:key=value,... with EXPERIMENT one of {list(JOBS)}"
        )
    base = JOBS[name]
    extra = [o for o in overrides.split(",") if o]
    given = dict(o.split("=", 1) for o in extra if "=" in o)
    steps, log_every = (int(given.get(k, v)) for k, v in [("trainer.max_steps", base.steps),
                                                            ("trainer.log_every_n_steps", base.log_every)])  # fmt: skip
    return Job(label.strip(), base.experiment, extra, steps, log_every)


def main() -> None:
    """Probe, run, probe, ...; print the table (and write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", default=",".join(JOBS), help="comma-separated jobs: " + ", ".join(JOBS))
    parser.add_argument("--variant", action="append", default=[], help="LABEL=EXPERIMENT:key=value,... (repeatable)")
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds per run before it is given up")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    jobs = [JOBS[name] for name in args.only.split(",") if name] + [parse_variant(v) for v in args.variant]
    import torch

    print(f"CPU: {cpu_name()}, {CPUS} CPUs, torch {torch.__version__}, load average {os.getloadavg()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="plait-util-") as tmp:
        peaks_before = probe_all()
        for job in jobs:
            m = measure(job, args.data_root.resolve(), Path(tmp), args.timeout)
            peaks_after = probe_all()
            peaks = mean_peaks([peaks_before, peaks_after])
            u = {} if m.error else utilisation(m, peaks)
            results.append((m, u))
            peak_text = ", ".join(f"{k} {giga(p.wall_flops)} ({giga(p.cpu_flops)}/CPU-s)" for k, p in peaks.items())
            state = m.error or f"{m.tokens_per_s:,.0f} tokens/s, utilisation {u['util_wall']:.1%} (wall)"
            print(f"{job.label}: {state}; peaks GFLOP/s {peak_text}; load {m.load:.1f}", flush=True)
            peaks_before = peaks_after
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(m), **u} for m, u in results], indent=2) + "\n")


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
