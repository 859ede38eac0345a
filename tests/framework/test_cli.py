"""The `plait` command as a user runs it: helpful errors without tracebacks, Hydra features intact."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLAIT = [sys.executable, "-m", "framework.cli"]


def plait(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `plait <args>` in a subprocess, like a user would."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([*PLAIT, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def test_disabling_the_builtin_models_names_what_lacks_a_model(tmp_path: Path) -> None:
    # the tasks no longer import the models (plugin kinds are independent), so this is a clear error, not an ImportError
    out = plait("train", "trainer.max_steps=1", cwd=tmp_path, env={"PLAIT_DISABLE_PLUGINS": "models"})
    assert out.returncode == 2 and "Traceback" not in out.stderr + out.stdout
    assert "Unknown model 'transformer_encoder'" in out.stderr
    assert (
        "plugin 'models' from distribution 'plait' may provide it but is disabled by PLAIT_DISABLE_PLUGINS"
        in out.stderr
    )
    assert not list(tmp_path.iterdir())  # refused before Hydra made a run directory


def test_unknown_model_lists_known_names_without_traceback(tmp_path: Path) -> None:
    out = plait("train", "model=nope", cwd=tmp_path)
    assert out.returncode == 2
    assert "Unknown model 'nope'" in out.stderr and "transformer_encoder" in out.stderr
    assert "Closest match" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_typo_in_a_sweep_is_caught_before_any_trial(tmp_path: Path) -> None:
    out = plait("train", "-m", "precision=fp32,amp_bf1", cwd=tmp_path)
    assert out.returncode == 2
    assert "Unknown precision 'amp_bf1'" in out.stderr and "Closest match: 'amp_bf16'" in out.stderr
    assert not (tmp_path / "multirun").exists()


def test_wrong_type_names_key_and_expected_type(tmp_path: Path) -> None:
    out = plait("train", "trainer.max_steps=abc", cwd=tmp_path)
    assert out.returncode != 0
    assert "trainer.max_steps" in out.stderr and "Integer" in out.stderr
    assert "Traceback" not in out.stderr


def test_cfg_job_prints_composed_config_with_component_keys(tmp_path: Path) -> None:
    out = plait("train", "--cfg", "job", "model.d_model=64", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "_name_: transformer_encoder" in out.stdout and "d_model: 64" in out.stdout
    assert "wandb:" in out.stdout and "jsonl:" in out.stdout  # the default loggers


def test_train_help_lists_groups_and_options(tmp_path: Path) -> None:
    out = plait("train", "--help", cwd=tmp_path)
    assert out.returncode == 0
    for option in ("transformer_encoder", "amp_fp16", "warmup_cosine", "adamw", "sentiment", "bpe"):
        assert option in out.stdout


def test_list_and_describe(tmp_path: Path) -> None:
    listing = plait("list", cwd=tmp_path)
    assert listing.returncode == 0
    assert "transformer_encoder" in listing.stdout and "plait" in listing.stdout
    described = plait("describe", "model/transformer_encoder", cwd=tmp_path)
    assert described.returncode == 0
    assert "model.d_model" in described.stdout and "width of token representations" in described.stdout
    logger = plait("describe", "logger/wandb", cwd=tmp_path)
    assert "logger.wandb.mode" in logger.stdout and "offline | online | disabled | null" in logger.stdout
    bad = plait("describe", "modl/transformer_encoder", cwd=tmp_path)
    assert bad.returncode == 2 and "Closest match: 'model'" in bad.stderr


def test_unknown_command_suggests_one(tmp_path: Path) -> None:
    out = plait("trian", cwd=tmp_path)
    assert out.returncode == 2 and "'train'" in out.stderr


@pytest.mark.slow
def test_train_prints_accuracy_and_paths(tmp_path: Path) -> None:
    out = plait(
        "train",
        "trainer.max_steps=4",
        "trainer.batch_size=8",
        "task.demo_size=300",
        "logger=[console,jsonl]",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "val/accuracy" in out.stdout
    assert f"run directory: {tmp_path / 'run'}" in out.stdout.replace("\n", " ") or "run directory:" in out.stdout
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step_0000004" / "COMPLETE").is_file()
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_shell_completion_completes_groups_and_keys(tmp_path: Path) -> None:
    install = plait("train", "--shell-completion", "install=bash", cwd=tmp_path)
    assert install.returncode == 0 and "complete -o nospace" in install.stdout and "plait" in install.stdout
    query = plait("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "plait train model=", "COMP_POINT": "18"})
    assert "model=transformer_encoder" in query.stdout
    query = plait("-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "plait train trainer.max", "COMP_POINT": "23"})
    assert "trainer.max_steps=" in query.stdout


def test_bash_completion_offers_commands_subcommands_and_hydra_keys(tmp_path: Path) -> None:
    bash, bin_dir = shutil.which("bash"), Path(sys.executable).parent
    if bash is None or not (bin_dir / "plait").is_file():
        pytest.skip("needs bash and the installed `plait` script")
    script = 'eval "$(plait -sc install=bash)"\n'
    for i, line in enumerate(("plait sw", "plait sweep ", "plait train optim")):  # what COMPREPLY gets on <TAB>
        words = line.split() + ([""] if line.endswith(" ") else [])
        script += f"COMP_LINE='{line}'; COMP_POINT={len(line)}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        script += f'COMP_CWORD={len(words) - 1}; hydra_bash_completion; echo "{i}: ${{COMPREPLY[*]}}"\n'
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([bash, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "0: sweep" in lines and "1: resume" in lines
    assert any(line.startswith("2: ") and "optimizer=" in line.split() for line in lines), proc.stdout


@pytest.mark.slow
def test_sweep_records_a_failed_trial_and_runs_the_others(tmp_path: Path) -> None:
    out = plait(
        "train",
        "-m",
        "model.d_model=32,30",  # 30 is not divisible by 4 heads: that trial fails
        "trainer.max_steps=2",
        "trainer.batch_size=8",
        "task.demo_size=300",
        "logger=[jsonl]",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr  # the sweep finishes, then reports its failed trial (issue 11)
    assert (tmp_path / "sweep" / "0" / "checkpoints" / "step_0000002" / "COMPLETE").is_file()
    failed = (tmp_path / "sweep" / "1" / "FAILED").read_text()
    assert "model.n_heads=4 is not allowed: must be >= 1 and divide d_model=30" in failed
    assert "trial 1 failed" in out.stderr


def test_every_command_answers_help_with_exit_0(tmp_path: Path) -> None:
    from framework.cli.commands import command_names

    for command in command_names():
        out = plait(command, "--help", cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)
        assert "usage" in out.stdout.lower() or "plait train" in out.stdout, command


def test_describe_shows_element_types(tmp_path: Path) -> None:
    out = plait("describe", "optimizer/adamw", cwd=tmp_path)
    assert out.returncode == 0 and "list[float]" in out.stdout


def test_describe_a_scheduler_prints_its_curve_and_plots_it(tmp_path: Path) -> None:
    overrides = [
        "optimizer.lr=0.01",
        "trainer.max_steps=200",
        "scheduler.warmup_steps=20",
        "scheduler.min_lr_ratio=0.1",
    ]
    out = plait("describe", "scheduler/cosine", *overrides, "--plot", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "scheduler.min_lr_ratio" in out.stdout  # the options table, then the curve of the configured run
    assert "trainer.max_steps=200 with optimizer.lr=0.01" in out.stdout
    points = {
        int(line.split()[0]): float(line.split()[1]) for line in out.stdout.splitlines() if line[:10].strip().isdigit()
    }
    assert points[1] == pytest.approx(0.01 / 20) and points[20] == pytest.approx(0.01)
    assert points[200] == pytest.approx(0.01 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 179 / 180))), rel=1e-3)
    assert (tmp_path / "lr_cosine.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "wrote lr_cosine.png" in out.stdout


def test_describe_plateau_says_it_is_metric_driven_and_bad_overrides_fail_first(tmp_path: Path) -> None:
    out = plait("describe", "scheduler/plateau", "--plot=curves/plateau.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "metric-driven" in out.stdout and (tmp_path / "curves" / "plateau.png").is_file()
    bad = plait("describe", "scheduler/wsd", "scheduler.shape=exp", cwd=tmp_path)
    assert bad.returncode == 2 and "linear, cosine, sqrt" in bad.stderr and bad.stdout == ""
    assert plait("describe", "model/lstm", "--plot", cwd=tmp_path).returncode == 2


def test_doctor_lists_plugins_and_the_device(tmp_path: Path) -> None:
    out = plait("doctor", cwd=tmp_path, env={"PLAIT_DISABLE_PLUGINS": "nothing_installed_by_this_name"})
    assert out.returncode == 0, out.stderr
    assert "plait plugin API 1" in out.stdout
    assert "models = plugins.models  [plait " in out.stdout
    assert "example = plait_example  [plait-example 0.2.0]" in out.stdout
    assert "torch " in out.stdout and "cpu: " in out.stdout
    disabled = plait("doctor", cwd=tmp_path, env={"PLAIT_DISABLE_PLUGINS": "plait-example"})
    assert "disabled (PLAIT_DISABLE_PLUGINS):\n  example (plait-example)" in disabled.stdout
