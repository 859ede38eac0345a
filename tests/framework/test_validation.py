"""Errors before work: each bad value is one message naming the key and what is allowed, exit code 2, no
traceback, before any data is read or tokenizer trained; credential-like keys never reach the disk."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import time
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_runs import run_cli, sentiment_file
from omegaconf import OmegaConf, open_dict

from framework.engine.run_lock import previous_run_files
from framework.engine.validation import check_finite, validate_config
from framework.errors import ConfigValueError
from framework.secrets import looks_like_secret, scrub_argv
from framework.testing import QUICK, compose

# (overrides, what the message must say): the key, and what is allowed or the real key
BAD_INPUT = [
    (["model.pooling=maxx"], ["model.pooling", "cls, mean"]),
    (["model=lstm", "model.pooling=maxx"], ["model.pooling", "mean, max, last"]),
    (["+model.dropuot=0.3"], ["model.dropuot", "did you mean model.dropout?"]),
    (["trainer.batch_size=0"], ["trainer.batch_size=0", ">= 1"]),
    (["trainer.grad_accum_steps=0"], ["trainer.grad_accum_steps=0", ">= 1"]),
    (["trainer.log_every_n_steps=0"], ["trainer.log_every_n_steps=0", ">= 1"]),
    (["optimizer.lr=-1"], ["optimizer.lr=-1.0", "> 0"]),
    (["model.dropout=2.0"], ["model.dropout=2.0", "[0, 1)"]),
    (["trainer.batch_size=-4"], ["trainer.batch_size=-4", ">= 1"]),
    (["trainer.max_steps=-5"], ["trainer.max_steps=-5", ">= 1"]),
    (["tokenizer.vocab_size=0"], ["tokenizer.vocab_size=0", ">= 8"]),
    (["experiment=nope"], ["experiment 'nope'", "sst2_lstm_glove"]),
    (["trainer.max_step=10"], ["trainer.max_step", "did you mean trainer.max_steps?"]),
    (["+trainer.max_step=10"], ["trainer.max_step", "did you mean trainer.max_steps?"]),
    (["model.n_heads=3"], ["model.n_heads=3", "divide d_model=128"]),
    (["model.positional=rope", "model.d_model=24", "model.n_heads=8"], ["model.positional", "even"]),
    (["trainer.max_steps=abc"], ["trainer.max_steps", "Integer"]),
    # issue 24: overrides that were tracebacks or were accepted silently
    (["optimizer.lr=inf"], ["optimizer.lr=inf is not allowed: must be finite"]),
    (["optimizer.lr=nan"], ["optimizer.lr=nan is not allowed: must be finite"]),
    (["trainer.clip_grad_norm=inf"], ["trainer.clip_grad_norm=inf is not allowed: must be finite"]),
    (["optimizer.betas=[0.9,inf]"], ["optimizer.betas=[0.9, inf] is not allowed: must be finite"]),
    (["trainer.seed=-1"], ["trainer.seed=-1 is not allowed: must be in [0, 4294967295]"]),
    (["trainer.seed=4294967296"], ["trainer.seed=4294967296", "[0, 4294967295]"]),
    (["task.labels=[a,a,b]"], ["task.labels=['a', 'a', 'b'] is not allowed", "'a' is named twice"]),
    (["trainer.device=tpu"], ["trainer.device=tpu is not a device. This machine has: cpu", "trainer.device=auto"]),
    (["hydra.run.dir="], ["hydra.run.dir= is empty", "into the current directory", "hydra.run.dir=. to mean"]),
]


@pytest.mark.parametrize(("args", "expected"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_message_exit_2_and_nothing_written(
    args: list[str], expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    start = time.perf_counter()
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    elapsed = time.perf_counter() - start
    assert code == 2, out
    for text in expected:
        assert text in out, (text, out)
    assert "Traceback" not in out and out.count("error:") == 1
    assert list(tmp_path.iterdir()) == [], "nothing may be written: no run directory, tokenizer or token cache"
    assert elapsed < 3, f"{args}: {elapsed:.2f} s in process (plugins already imported)"


def test_cli_subprocess_exit_code_time_and_full_error(tmp_path: Path) -> None:
    """The real command: exit 2 within a few seconds; HYDRA_FULL_ERROR=1 shows Hydra's traceback instead."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PLAIT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "-m", "framework.cli", "train", "trainer.max_step=10"]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert out.returncode == 2 and "did you mean trainer.max_steps?" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert elapsed < 10, f"{elapsed:.1f} s (issue 8 asks < 3 s on an idle machine; this one is shared)"
    full = subprocess.run(cmd, cwd=tmp_path, env={**env, "HYDRA_FULL_ERROR": "1"}, capture_output=True, text=True)
    assert full.returncode != 0 and "Traceback" in full.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("arg", ["+api_key=SENTINEL", "+logger.wandb.api_key=SENTINEL", "++trainer.hf_token=SENTINEL"])
def test_credential_keys_are_refused_before_anything_is_written(
    arg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run_dir = tmp_path / "run"
    code, out = run_cli([arg, f"hydra.run.dir={run_dir}"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "looks like a credential" in out and "environment variable" in out
    assert not run_dir.exists() and not (run_dir / ".hydra").exists()
    hits = [p for p in tmp_path.rglob("*") if p.is_file() and b"SENTINEL" in p.read_bytes()]
    assert hits == []


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("logger.wandb.api_key", True),
        ("wandb.apikey", True),
        ("hf_token", True),
        ("db.password", True),
        ("aws_secret", True),
        ("my-passwd", True),
        ("tokenizer", False),
        ("tokenizer.vocab_size", False),
        ("max_new_tokens", False),
        ("n_tokens", False),
        ("tokenizer.special_tokens.pad", False),
        ("trainer.max_steps", False),
    ],
)
def test_which_keys_look_like_credentials(key: str, secret: bool) -> None:
    assert looks_like_secret(key) is secret


def test_scrub_argv_redacts_only_credential_values() -> None:
    argv = ["plait", "train", "+x.api_key=S1", "--password", "S2", "--token=S3", "model=lstm", "tokenizer=bpe"]
    scrubbed = scrub_argv(argv)
    assert not any(s in " ".join(scrubbed) for s in ("S1", "S2", "S3"))
    assert scrubbed[-2:] == ["model=lstm", "tokenizer=bpe"] and len(scrubbed) == len(argv)


def test_wandb_never_records_credential_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B stores sys.argv[1:] as the run's program arguments; a credential there must not reach its files."""
    from plugins.loggers.wandb_logger import WandbLogger, WandbLoggerConfig

    monkeypatch.setattr(sys, "argv", ["plait", "train", "+x.api_key=SENTINEL_ARG", "--password", "SENTINEL_ARG"])
    logger = WandbLogger(WandbLoggerConfig(mode="offline"), tmp_path, {"api_key": "SENTINEL_CFG", "tokenizer": {}})
    assert logger.config == {"tokenizer": {}}  # `tokenizer` is not a credential
    logger.on_fit_start(None)  # type: ignore[arg-type]
    logger.log_metrics({"train/loss": 1.0}, step=1)
    logger.close(None)  # type: ignore[arg-type]
    assert sys.argv[2] == "+x.api_key=SENTINEL_ARG", "argv is restored after wandb.init"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files)
    assert [p for p in files if b"SENTINEL" in p.read_bytes()] == []


def test_validate_config_names_keys_from_python_too(tmp_path: Path) -> None:
    from framework.engine.run import train

    cfg = compose(["trainer.max_steps=0"])
    with pytest.raises(ConfigValueError, match=r"trainer.max_steps=0 is not allowed: must be >= 1"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists(), "nothing is written before the config is valid"
    cfg = compose([])
    cfg.optimizer.weight_decay = -0.1
    with pytest.raises(ConfigValueError, match=r"optimizer.weight_decay=-0.1 .* >= 0"):
        validate_config(cfg)
    cfg = compose(["logger=[jsonl,console]"])
    cfg.logger.console.min_interval_s = -1.0
    with pytest.raises(ConfigValueError, match=r"logger.console.min_interval_s=-1.0"):
        validate_config(cfg)
    cfg.logger.console.min_interval_s = 1.0
    with open_dict(cfg.logger.console):
        cfg.logger.console.progres_bar = "never"
    with pytest.raises(ConfigValueError, match=r"did you mean logger.console.progress_bar\?"):
        validate_config(cfg)


def test_every_shipped_experiment_and_default_is_valid() -> None:
    validate_config(compose([], quick=False))
    for experiment in sorted(p.stem for p in (Path(__file__).parents[2] / "conf" / "experiment").glob("*.yaml")):
        validate_config(compose([f"experiment={experiment}"], quick=False))


def test_closed_choices_are_plain_strings_in_saved_configs() -> None:
    cfg = compose(["model=lstm", "model.pooling=max", "precision=bf16", "precision.update=plain"])
    text = OmegaConf.to_yaml(cfg, resolve=True)
    assert "pooling: max" in text and "update: plain" in text and "format: auto" in text
    typed = OmegaConf.to_object(cfg.model)
    assert typed.pooling == "max" and f"{typed.pooling}" == "max" and str(typed.pooling) == "max"
    assert OmegaConf.to_yaml(OmegaConf.create(text)) == text  # reloads as the same values


def test_range_checks_refuse_inf_and_nan_saying_finite() -> None:
    """`inf > 0` holds, so a plain comparison would let inf through (issue 24: optimizer.lr=inf trained until it
    diverged); every helper of framework.schema says "finite"."""
    from framework.schema import above, at_least, between

    cfg = SimpleNamespace(lr=math.inf, decay=math.nan, ratio=-math.inf)
    with pytest.raises(ConfigValueError, match=r"lr=inf is not allowed: must be finite and > 0"):
        above(cfg, 0, "lr")
    with pytest.raises(ConfigValueError, match=r"decay=nan is not allowed: must be finite and >= 0"):
        at_least(cfg, 0, "decay")
    with pytest.raises(ConfigValueError, match=r"ratio=-inf is not allowed: must be finite and in \(0, 1\)"):
        between(cfg, "ratio", 0, 1, low_open=True, high_open=True)


def test_every_float_option_of_every_schema_refuses_inf_and_nan() -> None:
    """The generic check of validate_config covers options without a range check of their own."""
    from framework.engine.config import TrainerConfig
    from framework.kinds import REGISTRIES
    from framework.plugins import load_plugins

    load_plugins()
    schemas = [TrainerConfig] + [r.config_class(n) for r in REGISTRIES.values() for n in r.names()]
    checked = 0
    for schema in schemas:
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            if hints[f.name] not in (float, typing.Optional[float]):
                continue
            for bad in (math.inf, math.nan):
                obj = schema()
                setattr(obj, f.name, bad)
                with pytest.raises(ConfigValueError, match="must be finite"):
                    check_finite(obj)
                checked += 1
    assert checked > 50


def test_batch_larger_than_the_training_split_names_both_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 24: trainer.batch_size=1000000000 ran each step over the whole data set, ~100x slower, without a word."""
    data = sentiment_file(tmp_path / "data.tsv", 600)
    run_dir = tmp_path / "run"
    args = [*QUICK, f"task.train_path={data}", "trainer.batch_size=1000000000", f"hydra.run.dir={run_dir}"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out
    assert (
        "error: trainer.batch_size=1000000000 is larger than the training split (540 examples); use at most 540" in out
    )
    assert previous_run_files(run_dir) == [], "nothing a later run in this directory trips on"


def test_a_tiny_validation_split_warns_with_the_count_and_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 24: task.val_ratio=0.0001 held out one example and reported its accuracy as the run's result."""
    data = sentiment_file(tmp_path / "data.tsv", 600)
    args = [*QUICK, f"task.train_path={data}", "task.val_ratio=0.0001", "trainer.max_steps=2"]
    code, out = run_cli([*args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, monkeypatch, capsys)
    assert code == 0 and "Traceback" not in out
    assert (
        "warning: the validation split has only 1 example(s), so its metrics are mostly noise; raise task.val_ratio "
        "(now 0.0001) or give a validation file with task.val_path=<file>"
    ) in out


def test_more_threads_than_cpus_are_lowered_with_a_one_line_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Issue 24: trainer.num_threads=999 on 2 cores took 87 s instead of ~3 s; it is clamped (docs/reliability.md)."""
    from framework.engine import threads

    monkeypatch.setattr(threads, "affinity_cpus", lambda: 2)
    args = [*QUICK, "trainer.num_threads=999", "trainer.max_steps=2", f"hydra.run.dir={tmp_path / 'run'}"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0 and "Traceback" not in out
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning == [
        "warning: trainer.num_threads=999 is more than the 2 CPU(s) this process may use; using 2 "
        "(more threads than cores only wait for each other)"
    ]
    assert "threads: 2 (trainer.num_threads=999 lowered to the 2 usable CPUs)" in out
