"""`plait train`: Hydra composes `conf/train.yaml` with the user's overrides, then `framework.engine.run.train` runs.

Errors before work: credential-looking keys are refused, component and experiment choices are checked
(a typo gets the known names and the closest one), and a plain run is composed and validated once
before Hydra creates its run directory, so every bad value is one message, exit code 2, no traceback
(`HYDRA_FULL_ERROR=1` shows Hydra's own error with its traceback).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig

from framework.engine.config import store_schemas
from framework.engine.disk import check_writable
from framework.engine.validation import unknown_key_error, validate_config
from framework.errors import PlaitError, UnknownComponentError, closest
from framework.kinds import COMPONENT_GROUPS, REGISTRIES
from framework.plugins import load_plugins
from framework.schema import NAME_FIELD
from framework.secrets import override_key, refuse_secrets

CHECKED_GROUPS = (*COMPONENT_GROUPS, "experiment", "adapter", "debug")  # option names checked before Hydra runs
RUN_DIR_KEYS = ("hydra.run.dir", "hydra.sweep.dir")  # where Hydra writes a run, a sweep


def group_options(group: str, conf: Path) -> set[str]:
    """Every option of a config group: registered keys, ConfigStore entries and YAML presets."""
    from hydra.core.config_store import ConfigStore

    options = set(REGISTRIES[group].names()) if group in REGISTRIES else set()
    stored = ConfigStore.instance().repo.get(group, {})
    options |= {name.removesuffix(".yaml") for name in stored if isinstance(name, str)}
    options |= {p.stem for p in (conf / group).glob("*.yaml")}
    return options


def unknown_option_message(group: str, value: str, known: list[str]) -> str:
    """The error for `group=value` naming no option: the known options and the closest one."""
    if group in REGISTRIES:
        return REGISTRIES[group].unknown_message(value, known)
    near = closest(value, known)
    hint = f" Closest match: '{near}'." if near else ""
    return f"Unknown {group} '{value}'. Known {group}s: {', '.join(known) or '(none)'}.{hint}"


def check_overrides(argv: list[str], conf: Path) -> None:
    """Reject `group=value` overrides naming an option that does not exist, listing the known ones."""
    if any(a.startswith(("--config-dir", "-cd", "hydra.searchpath")) for a in argv):
        return  # presets may come from the user's own config directory: let Hydra judge
    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except Exception:
        return  # syntax errors are Hydra's to explain
    for override in parsed:
        group = override.key_or_group
        if group not in CHECKED_GROUPS or override.is_delete() or override.package:
            continue
        values: list[Any]  # a sweep's strings, or one parsed value (str, number, list, ...)
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            value = override.value()
            values = value if isinstance(value, list) else [value]
        known = sorted(group_options(group, conf))
        for value in values:
            if isinstance(value, str) and value not in known:
                raise UnknownComponentError(unknown_option_message(group, value, known))


def _compose(argv: list[str], conf: Path, *, with_hydra: bool = False) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf), version_base="1.3", job_name="plait"):
        return compose(config_name="train", overrides=argv, return_hydra_config=with_hydra)


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(f"{prefix}.")


def _owner(node: object, path: str) -> str:
    """How an error names the config node at `path`: `model 'lstm'`, `trainer`, `the train config`."""
    name = node.get(NAME_FIELD) if isinstance(node, DictConfig) else None
    return f"{path} '{name}'" if name else (path or "the train config")


def composition_error(exc: Exception, argv: list[str], conf: Path) -> str:
    """One clear line for a failed composition: the full key and what is wrong; a misspelt key gets the real one."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    cause = exc.__cause__ or exc.__context__ or exc
    missing = re.search(r"Could not find '(\w+)/([\w.]+)'", str(exc))
    if missing and missing.group(1) in CHECKED_GROUPS:  # a default (train.yaml, an experiment) names no option
        group, option = missing.groups()
        return unknown_option_message(group, option, sorted(group_options(group, conf)))
    full_key = str(getattr(cause, "full_key", "") or "")
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and full_key:
        rest = [a for a in argv if not _under(override_key(a) or "", full_key)]
        try:
            parent_path = full_key.rpartition(".")[0]
            cfg = _compose(rest, conf)
            parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
        except Exception:
            parent = None
        if isinstance(parent, DictConfig):
            fields = [str(k) for k in parent if k != NAME_FIELD]
            return str(unknown_key_error(full_key, fields, _owner(parent, parent_path)))
    if isinstance(cause, OmegaConfBaseException) and full_key:
        return f"{full_key}: {getattr(cause, 'msg', None) or cause}".split("\n")[0]
    lines = [line for line in str(exc).splitlines() if line.strip() and "HYDRA_FULL_ERROR" not in line]
    return " ".join(lines) or type(exc).__name__


def check_run_dir_given(argv: list[str]) -> None:
    """Refuse an empty `hydra.run.dir=` (or `hydra.sweep.dir=`): Hydra would write the run into the current
    directory, beside whatever is there, without a word."""
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        if sep and key in RUN_DIR_KEYS and not value.strip().strip("'\"").strip():
            raise PlaitError(
                f"{key}= is empty, which would write the run (checkpoints/, tokenizer/, .hydra/, metrics.jsonl, ...) "
                f"into the current directory {Path.cwd()}, beside what is there. Name a directory "
                f"({key}=outputs/my_run), or {key}=. to mean this one"
            )


def precheck(argv: list[str], conf: Path) -> None:
    """Compose and validate a plain run (no flags, no sweep) before Hydra writes its run directory, and check
    that the run directory's disk can take it (Hydra's own first writes would end in its traceback).

    Runs with Hydra flags (-m, --cfg, --help, -cd ...) are left to Hydra; `framework.engine.run.train` validates
    every run again, so a sweep's bad trial fails that trial.
    """
    check_run_dir_given(argv)
    if any(a.startswith("-") for a in argv):
        return
    from omegaconf import OmegaConf, open_dict

    cfg = _compose_or_fail(argv, conf, with_hydra=True)
    hydra_run = OmegaConf.to_container(cfg.hydra.run, resolve=False)  # ${now:...} resolves inside the Hydra app only
    assert isinstance(hydra_run, dict)
    run_dir = str(hydra_run["dir"])
    with open_dict(cfg):
        del cfg["hydra"]
    if _validated(cfg):
        check_writable(Path(run_dir.split("${", 1)[0] or "."), f"the run directory (hydra.run.dir={run_dir})")


def compose_checked(argv: list[str], conf: Path) -> DictConfig:
    """`conf/train.yaml` composed with the overrides `argv` and validated: a bad key or value is one PlaitError."""
    cfg = _compose_or_fail(argv, conf)
    _validated(cfg)
    return cfg


def _compose_or_fail(argv: list[str], conf: Path, *, with_hydra: bool = False) -> DictConfig:
    """Compose, turning any composition failure into one clear PlaitError (HYDRA_FULL_ERROR=1 keeps Hydra's)."""
    try:
        return _compose(argv, conf, with_hydra=with_hydra)
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        raise PlaitError(composition_error(exc, argv, conf)) from None


def _validated(cfg: DictConfig) -> bool:
    """Validate every value; False when an interpolation resolves only inside the Hydra app (train() validates)."""
    from omegaconf.errors import InterpolationResolutionError

    try:
        validate_config(cfg)
    except InterpolationResolutionError:
        return False
    return True


def compose_run(argv: list[str], conf: Path) -> DictConfig:
    """The validated config `plait train <argv>` would run, for commands that act on it without training
    (`plait prepare`): plugins loaded, credentials refused, options checked, composed, validated."""
    refuse_secrets(argv)
    load_plugins()
    store_schemas()
    flags = [a for a in argv if a.startswith("-")]
    if flags:
        raise PlaitError(f"only overrides (key=value) are taken here, not {' '.join(flags)}")
    check_overrides(argv, conf)
    cfg = _compose_or_fail(argv, conf)
    validate_config(cfg)
    return cfg


def split_sweep_values(argv: list[str], conf: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Take out of a sweep the values that cannot even be composed (`optimizer.lr=1e-3,bad`): Hydra would stop
    the whole sweep on them. Returns the command line without them and (override, error) for each, which the
    sweep summary records as a failed trial. Group choices are checked by `check_overrides` instead."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception:
        return argv, []  # syntax errors are Hydra's to explain
    plain = [str(o.input_line) if not o.is_sweep_override() else f"{o.key_or_group}={next(o.sweep_string_iterator())}"
             for o in parsed]  # fmt: skip
    rejected: list[tuple[str, str]] = []
    replaced: dict[str, str] = {}
    for i, override in enumerate(parsed):
        if not override.is_sweep_override() or override.key_or_group in COMPONENT_GROUPS or override.package:
            continue
        good = []
        for value in override.sweep_string_iterator():
            line = f"{override.key_or_group}={value}"
            try:
                _compose([*plain[:i], line, *plain[i + 1 :]], conf)
                good.append(value)
            except Exception as exc:
                rejected.append((line, composition_error(exc, [line], conf)))
        if good and len(good) < len(list(override.sweep_string_iterator())):
            replaced[str(override.input_line)] = f"{override.key_or_group}={','.join(good)}"
    return [replaced.get(a, a) for a in argv], rejected


def _task(cfg: DictConfig) -> float | None:
    """Hydra's task: one run, or one trial of a sweep (framework.cli.trials records how each trial ended)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from framework.cli.messages import fail
    from framework.cli.trials import run_trial, train_or_exit
    from framework.engine.summary import print_run_summary

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    if hc.mode == RunMode.MULTIRUN:
        return run_trial(cfg, run_dir, hc.job.num, Path(hc.sweep.dir))
    from framework.engine import distributed

    if distributed.is_initialized():  # compose once: every rank trains from rank 0's frozen config
        cfg = _share_job(cfg, run_dir)
    try:
        result = train_or_exit(cfg, run_dir)
    except PlaitError as exc:
        fail(str(exc))
        return None  # not reached: fail() exits
    print_run_summary(result)
    return result.objective


_SHARED: dict[str, bool] = {"sent": False}


def _share_job(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """Rank 0: resolve the config once (`${now:}` and all), send it and the run directory to every rank."""
    from omegaconf import OmegaConf

    from framework.engine import distributed
    from framework.engine.build import as_dictconfig

    frozen = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    distributed.broadcast_object((frozen, str(run_dir)))
    _SHARED["sent"] = True
    return as_dictconfig(frozen)  # typed by the TrainConfig schema, as on the other ranks


def _run_distributed(argv: list[str], conf: Path) -> None:
    """Under torchrun: rank 0 runs the Hydra app (and sends the job); the other ranks train what it sent.

    A rank-0 failure before sending (bad override, --help, --cfg) sends None and the other ranks exit quietly.
    """
    from framework.engine import distributed
    from framework.engine.build import as_dictconfig
    from framework.engine.run import train

    distributed.init()
    try:
        if distributed.is_main():
            try:
                if any(a in ("-m", "--multirun") for a in argv):
                    raise PlaitError("a sweep (-m) cannot run under torchrun; launch each trial with torchrun instead")
                _run_hydra(argv, conf)
            finally:
                if not _SHARED["sent"]:
                    distributed.broadcast_object(None)
        else:
            job = distributed.broadcast_object(None)
            if job is None:
                return
            frozen, run_dir = job
            _train_other_rank(train, as_dictconfig(frozen), Path(run_dir))
        distributed.barrier()  # rank 0 may still be writing the final checkpoint
    finally:
        distributed.teardown()


def _train_other_rank(train: Callable[..., object], cfg: DictConfig, run_dir: Path) -> None:
    """Train on a rank > 0; a peer that is gone ends this rank with one line, not a traceback."""
    from framework.engine import distributed
    from framework.engine.preemption import Preempted

    try:
        train(cfg, run_dir)
    except Preempted as exc:
        raise SystemExit(exc.exit_code) from None
    except PlaitError:  # config and data errors are the same on every rank: rank 0 shows it, once
        raise SystemExit(2) from None
    except dist_errors() as exc:
        print(f"rank {distributed.rank()}: stopped, another process of this run ended ({exc})", file=sys.stderr)
        raise SystemExit(1) from None


def dist_errors() -> tuple[type[BaseException], ...]:
    """Errors a collective raises when a peer process is gone."""
    import torch.distributed as dist

    return tuple(e for e in (getattr(dist, "DistError", None),) if e is not None)


def run_hydra_train(argv: list[str], conf: Path) -> None:
    """Run Hydra's full CLI (overrides, -m, --cfg, --help, completion) on `conf/train.yaml`; under torchrun,
    rank 0 composes and every rank trains (see `_run_distributed`)."""

    refuse_secrets(argv)  # first: nothing may be written while a credential is on the command line
    load_plugins()
    store_schemas()
    if "RANK" in os.environ:  # torchrun sets it; only then is torch.distributed imported (not for --help)
        from framework.engine import distributed

        if distributed.launched():
            _run_distributed(argv, conf)
            return
    _run_hydra(argv, conf)


def _share_help_repository() -> None:
    """Hydra's --help lists every config group by building a fresh config repository per group (~100 here);
    they are identical within one --help, so build it once. Private Hydra API: without it, --help is slower."""
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        build = ConfigLoaderImpl._parse_overrides_and_create_caching_repo
    except (ImportError, AttributeError):
        return
    built: dict[tuple[int, str | None, tuple[str, ...]], Any] = {}

    def shared(self: Any, config_name: str | None, overrides: list[str]) -> Any:
        key = (id(self), config_name, tuple(overrides))
        if key not in built:
            built[key] = build(self, config_name, overrides)
        return built[key]

    setattr(ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo", shared)  # noqa: B010


def _run_hydra(argv: list[str], conf: Path) -> None:
    """Check the overrides, then hand the command line to Hydra's own CLI."""
    import hydra

    check_overrides(argv, conf)
    precheck(argv, conf)
    from framework.cli.sweep_summary import FAILED_EXIT_CODE, LAST

    LAST["rejected"] = []
    if "-m" in argv or "--multirun" in argv:
        argv, LAST["rejected"] = split_sweep_values(argv, conf)
    sys.argv = ["plait", *argv]
    if "--help" in argv or "-h" in argv:
        _share_help_repository()
    LAST.update(failed=0)
    hydra.main(config_path=str(conf), config_name="train", version_base="1.3")(_task)()
    if LAST["failed"]:  # a sweep with a failed trial: the summary is written, the command fails
        raise SystemExit(FAILED_EXIT_CODE)
