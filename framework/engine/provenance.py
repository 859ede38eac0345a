"""What a run ran, in a file Plait reads back: `provenance.json` beside config.yaml (and in every checkpoint).

    schema            1
    created           UTC time this process started the run (ISO 8601)
    command           the command line, credential-looking values redacted (framework.secrets.scrub_argv)
    cwd               the working directory
    git               the checkout holding the working directory (the user's project): root, commit, branch,
                      dirty (tracked files differ from the commit) and, when dirty, `diff` (the file holding
                      `git diff HEAD`, cut at 1 MB with a note), diff_bytes, diff_sha256; or a note
                      ("not a git repository", "git is not installed", ...)
    plait_source      where the `framework` package was imported from
    plait_git         the same for Plait's own checkout, only when it is another repository than `git`'s
    host              hostname, platform, machine, cpu_count
    runtime           python, torch, cuda, cudnn (and the GPUs, when CUDA is in use)
    packages          installed versions of plait, its dependencies and extras, and every plugin distribution
    env               environment variables that change results (ENV_NAMES, ENV_PREFIXES), no others;
                      values of credential-looking names are redacted
    data              "data_files.json" when the run recorded the files it read (their sizes and sha256), else null
    earlier           on resume: the records of earlier starts of this run (their diffs kept as git.<n>.diff)
    parent            a run started by `plait rerun`: the past run's directory and the overrides applied to its
                      recorded config (`run_dir`, `overrides`); kept when the rerun is resumed

Collecting costs two short `git` calls per checkout and a few version look-ups; nothing here imports torch
until `collect` runs, so the CLI reads these files without it.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import socket
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from framework.engine.git_state import capped, git_state, repository_root
from framework.files import atomic_write
from framework.secrets import REDACTED, looks_like_secret, scrub_argv

PROVENANCE_FILE = "provenance.json"
DIFF_FILE = "git.diff"
PLAIT_DIFF_FILE = "git_plait.diff"
DATA_RECORD = "data_files.json"  # each split's files with sizes and hashes, written by the build path
COMMAND_ENV = "PLAIT_COMMAND"  # the command line as typed, set by the CLI (Hydra rewrites sys.argv; trials inherit it)
SCHEMA = 1
PLAIT_SOURCE = Path(__file__).resolve().parents[2]
ENV_NAMES = frozenset(
    {
        "CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
        "RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM", "PYTHONHASHSEED", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
    }
)  # fmt: skip
ENV_PREFIXES = ("NCCL_", "TORCH_", "PYTORCH_", "PLAIT_", "CUDNN_", "KMP_", "MKL_", "NVIDIA_TF32")
TOOLING_EXTRAS = ("dev",)  # extras of plait that never change a result: not listed under packages


def set_command(argv: list[str]) -> None:
    """Record the command line as typed for the runs this process (and its trial processes) start."""
    os.environ[COMMAND_ENV] = json.dumps(scrub_argv(argv))


def command_line() -> list[str]:
    """The command that started this run, credential-looking values redacted."""
    try:
        recorded = json.loads(os.environ.get(COMMAND_ENV, ""))
    except ValueError:
        recorded = None
    argv = recorded if isinstance(recorded, list) else sys.argv
    return scrub_argv([str(a) for a in argv])


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed variables that are set (credential-looking names redacted); all others are left out."""
    env = dict(os.environ if env is None else env)
    kept = {k: v for k, v in env.items() if k != COMMAND_ENV and (k in ENV_NAMES or k.startswith(ENV_PREFIXES))}
    return {k: REDACTED if looks_like_secret(k) else v for k, v in sorted(kept.items())}


def _requirement_name(requirement: str) -> str | None:
    """The distribution a requirement names, or None for a tooling-only extra (`pytest; extra == "dev"`)."""
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
    if extra and extra.group(1) in TOOLING_EXTRAS:
        return None
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    return name.group(0) if name else None


def packages() -> dict[str, str]:
    """Installed versions: plait, its dependencies and extras (those installed), and every plugin distribution."""
    return dict(_installed())


@functools.cache  # ~0.1 s of metadata reads: once per process (installed versions do not change under a run)
def _installed() -> dict[str, str]:
    from framework.plugins import plugin_report

    try:
        names = [n for r in metadata.requires("plait") or [] if (n := _requirement_name(r))]
    except metadata.PackageNotFoundError:
        names = ["torch", "hydra-core", "omegaconf", "numpy"]
    found = {"plait": _version("plait") or "unknown (not installed)"}
    for name in dict.fromkeys(names):
        if name != "plait" and (version := _version(name)):
            found[name] = version
    for entry in plugin_report()["entry_points"]:
        found.setdefault(entry["distribution"], entry["version"])
    return found


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def runtime() -> dict[str, Any]:
    """Python, torch, CUDA and cuDNN versions; the GPUs when CUDA is in use (never initialises CUDA itself)."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "torch": str(torch.__version__),  # a str subclass that weights_only loading refuses
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if getattr(torch.version, "hip", None):
        info["hip"] = torch.version.hip
    if torch.cuda.is_initialized():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def host() -> dict[str, Any]:
    """The machine: hostname, platform, architecture and CPU count."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def collect(run_dir: Path, cwd: Path | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The provenance record of a run starting now in `run_dir`, and the diffs to save beside it (file -> bytes)."""
    cwd = Path.cwd() if cwd is None else cwd
    project = git_state(cwd)
    diffs = {DIFF_FILE: project.diff} if project.diff else {}
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "cwd": str(cwd),
        "git": project.record(DIFF_FILE),
        "plait_source": str(PLAIT_SOURCE),
    }
    source_root = repository_root(PLAIT_SOURCE)
    if source_root is not None and str(source_root) != project.root:
        own = git_state(source_root)
        record["plait_git"] = own.record(PLAIT_DIFF_FILE)
        diffs.update({PLAIT_DIFF_FILE: own.diff} if own.diff else {})
    record.update(host=host(), runtime=runtime(), packages=packages(), env=environment())
    record["data"] = DATA_RECORD if (run_dir / DATA_RECORD).is_file() else None
    return record, diffs


def read(run_dir: Path) -> dict[str, Any] | None:
    """The run's provenance record, or None when it has none (a run from before provenance, or not a run)."""
    path = Path(run_dir) / PROVENANCE_FILE
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return record if isinstance(record, dict) else None


def _archive(run_dir: Path, record: dict[str, Any], index: int) -> dict[str, Any]:
    """An earlier start's record, its diffs copied to `git.<index>.diff` so that the new start's do not replace them."""
    for key in ("git", "plait_git"):
        section = record.get(key)
        if not isinstance(section, dict):
            continue
        name = section.get("diff")
        if isinstance(name, str) and (run_dir / name).is_file():
            kept = Path(name).with_suffix(f".{index}{Path(name).suffix}").name
            atomic_write(run_dir / kept, (run_dir / name).read_bytes())
            section["diff"] = kept
    return record


def write(
    run_dir: Path, *, resumed: bool = False, cwd: Path | None = None, parent: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Collect and write provenance.json (and the diffs) into `run_dir`; a resumed run keeps earlier starts' records
    and its parent. `parent`: the run this one reruns (`plait rerun`), as {run_dir, overrides}."""
    run_dir = Path(run_dir)
    record, diffs = collect(run_dir, cwd)
    previous = read(run_dir) if resumed else None
    if previous is not None:
        parent = parent or previous.get("parent")
        earlier = previous.pop("earlier", [])
        record["earlier"] = [*earlier, _archive(run_dir, previous, len(earlier) + 1)]
    if parent:
        record["parent"] = parent
    for name in (DIFF_FILE, PLAIT_DIFF_FILE):
        if name in diffs:
            atomic_write(run_dir / name, capped(diffs[name]))
        else:
            (run_dir / name).unlink(missing_ok=True)  # a clean tree now: no stale diff of an earlier start
    text = json.dumps(record, indent=1) + "\n"
    atomic_write(run_dir / PROVENANCE_FILE, text)
    return dict(json.loads(text))  # plain JSON types, exactly as in the file: checkpoints carry the same dict
