"""`plait rerun <run> [overrides] [--strict]`: a new run from a past run's recorded config, never composed again.

The config is the past run's resolved `config.yaml` (framework.cli.relaunch, as `plait sweep resume` reads it)
with the overrides applied, so a default changed in conf/ or a preset installed since changes nothing. The new
run records its parent in provenance.json (`parent`: the past run's directory and the overrides), and
`plait compare` shows the link. Before anything is written, what the past run recorded (provenance.json) is
checked against what would run now: the git commit and uncommitted changes of the checkout, and the installed
versions of Plait, its dependencies and every plugin package. A difference is a warning; `--strict` refuses.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.cli.relaunch import recorded_config, with_overrides
from framework.cli.sweep_summary import SWEEP_CONFIG
from framework.engine import provenance
from framework.engine.git_state import git_state, repository_root
from framework.errors import PlaitError

RUN_DIR_KEY = "hydra.run.dir"  # where the new run goes, as for `plait train`


def new_run_dir(now: datetime | None = None) -> Path:
    """A fresh directory as `plait train` names one (outputs/<date>/<time>), with a suffix if taken."""
    stamp = (now or datetime.now()).strftime("outputs/%Y-%m-%d/%H-%M-%S")
    candidate, n = Path(stamp), 1
    while candidate.exists():
        candidate, n = Path(f"{stamp}_{n}"), n + 1
    return candidate


def _checkout_drift(label: str, recorded: Any, root: Path | None) -> list[str]:
    """How the checkout at `root` now differs from the `recorded` one (commit, uncommitted changes)."""
    if not isinstance(recorded, dict) or not recorded.get("commit"):
        return []
    now = git_state(root) if root is not None else None
    if now is None or not now.commit:
        note = now.note if now is not None else "not a git repository"
        return [f"{label}: the run was at commit {recorded['commit'][:12]}; here: {note}"]
    if now.commit != recorded["commit"]:
        return [f"{label}: the run was at commit {recorded['commit'][:12]}, the checkout is at {now.commit[:12]}"]
    before = recorded.get("diff_sha256") if recorded.get("dirty") else None
    after = now.record(None).get("diff_sha256") if now.dirty else None
    if before != after:
        return [f"{label}: uncommitted changes differ (the run: {_changes(before)}; now: {_changes(after)})"]
    return []


def _changes(diff_sha256: str | None) -> str:
    return "none" if diff_sha256 is None else f"diff sha256 {diff_sha256[:8]}"


def drift(record: dict[str, Any] | None, cwd: Path) -> list[str]:
    """What differs between what a past run recorded and what a run started now from `cwd` would record."""
    if record is None:
        return [f"the run has no {provenance.PROVENANCE_FILE}: its code and package versions cannot be checked"]
    found = _checkout_drift("code", record.get("git"), cwd)
    if "plait_git" in record:
        found += _checkout_drift("plait", record["plait_git"], repository_root(provenance.PLAIT_SOURCE))
    then, now = record.get("packages", {}), provenance.packages()
    for name in sorted(set(then) | set(now)):
        if then.get(name) != now.get(name):
            found.append(
                f"package {name}: {then.get(name, 'not installed')} then, {now.get(name, 'not installed')} now"
            )
    return found


def split_target(argv: Sequence[str]) -> tuple[list[str], Path | None]:
    """The overrides without `hydra.run.dir=<dir>`, and that directory (None when not given)."""
    overrides, target = [], None
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == RUN_DIR_KEY:
            if not value.strip():
                raise PlaitError(f"{RUN_DIR_KEY}= is empty: name the new run's directory, or leave it out")
            target = Path(value)
        elif key.startswith("hydra."):
            raise PlaitError(f"{arg}: a rerun takes config overrides and {RUN_DIR_KEY}=<dir> only")
        else:
            overrides.append(arg)
    return overrides, target


def _resumes(overrides: Sequence[str]) -> bool:
    """True when the overrides set trainer.resume."""
    return any(o.lstrip("+").startswith("trainer.resume=") for o in overrides)


def rerun_config(source: Path, overrides: list[str], *, in_place: bool = False) -> DictConfig:
    """The past run's recorded config with `overrides`. A new run does not take over a resume of the past run's
    own checkpoints (it resumed after a stop): it starts from the beginning; nor its remote checkpoint prefix
    (trainer.checkpoint_dir), which the overrides must change."""
    cfg = with_overrides(recorded_config(source), overrides)
    remote = cfg.trainer.get("checkpoint_dir")
    if remote and not in_place and not any(o.lstrip("+").startswith("trainer.checkpoint_dir=") for o in overrides):
        raise PlaitError(
            f"the run kept its checkpoints at trainer.checkpoint_dir={remote}; a new run needs a place of its own: "
            "add trainer.checkpoint_dir=<another prefix> (or trainer.checkpoint_dir=null for the run's checkpoints/)"
        )
    resume = cfg.trainer.resume
    if resume not in (None, "auto") and not in_place and not _resumes(overrides):
        own = Path(resume).resolve()
        if own == source.resolve() or source.resolve() in own.parents:
            print(f"note: the run resumed from its own {resume}; the rerun starts from the beginning", file=sys.stderr)
            cfg.trainer.resume = None
    return cfg


def rerun(source: Path, argv: Sequence[str], *, strict: bool = False) -> Path:
    """Start the new run: check, build its config, train into its directory; returns that directory."""
    from framework.cli.trials import train_or_exit
    from framework.engine.summary import print_run_summary

    if (source / SWEEP_CONFIG).is_file():
        raise PlaitError(
            f"{source} is a sweep: rerun one of its trials ({source}/0, ...); `plait sweep resume {source}` "
            "runs its failed and unfinished trials again"
        )
    overrides, target = split_target(argv)
    target = target if target is not None else new_run_dir()
    in_place = target.resolve() == source.resolve()  # continuing a stopped run (a rerun itself) from its config
    if in_place and not _resumes(overrides):
        raise PlaitError(
            f"{RUN_DIR_KEY}={target} is the run itself: a rerun starts a new run elsewhere; to continue this run "
            "from its recorded config, add trainer.resume=auto"
        )
    cfg = rerun_config(source, overrides, in_place=in_place)
    differences = drift(provenance.read(source), Path.cwd())
    if differences and strict:
        raise PlaitError(
            "--strict: what would run now differs from what the run recorded:\n  " + "\n  ".join(differences)
        )
    for line in differences:
        print(f"warning: {line}", file=sys.stderr)
    print(f"rerun of {source} with {' '.join(overrides) or 'no overrides'} into {target}", flush=True)
    parent = None if in_place else {"run_dir": str(source.resolve()), "overrides": list(overrides)}
    result = train_or_exit(cfg, target, parent=parent)
    print_run_summary(result)
    return target
