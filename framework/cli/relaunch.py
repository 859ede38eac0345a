"""Relaunch a run from what it recorded, never composing again from today's conf/.

The recorded config is the run's resolved `config.yaml` (written once its components were built), else
Hydra's composed `.hydra/config.yaml` (a run killed before that). `plait sweep resume` relaunches trials
so (`relaunch_trial`); `plait rerun` (framework.cli.rerun) starts new runs from `recorded_config` +
`with_overrides` the same way, into a new directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from framework.cli.trials import run_trial
from framework.engine.build import as_dictconfig
from framework.engine.run import CONFIG_FILE
from framework.errors import PlaitError
from framework.schema import NAME_FIELD

RECORDED_CONFIGS = (CONFIG_FILE, ".hydra/config.yaml")  # the first that exists is the run's config
_ABSENT = object()


def has_recorded_config(run_dir: Path) -> bool:
    """True when `run_dir` holds a config a relaunch can start from."""
    return any((run_dir / name).is_file() for name in RECORDED_CONFIGS)


def recorded_config(run_dir: Path) -> DictConfig:
    """The config `run_dir` ran with, typed by the TrainConfig schema."""
    for name in RECORDED_CONFIGS:
        if (run_dir / name).is_file():
            data = cast(dict[str, Any], OmegaConf.to_container(OmegaConf.load(run_dir / name)))
            return as_dictconfig(data)
    raise PlaitError(f"{run_dir} holds no recorded config ({' or '.join(RECORDED_CONFIGS)}): is it a run directory?")


def with_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """`cfg` with `key=value` overrides, values parsed as Hydra parses them; `+key=value` adds a key.

    Components stay the recorded ones: `model=lstm` would need a new composition, so it is refused.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        line = override.input_line
        if override.is_sweep_override() or override.is_delete() or override.package:
            raise PlaitError(f"{line}: only key=value or +key=value can change a recorded config")
        key, value = override.key_or_group, override.value()
        current = OmegaConf.select(cfg, key, default=_ABSENT)
        if current is _ABSENT and not override.is_add():
            raise PlaitError(f"{line}: the recorded config has no key '{key}' (add one with +{key}=...)")
        if isinstance(current, DictConfig) and NAME_FIELD in current and not isinstance(value, dict):
            raise PlaitError(f"{line}: a relaunch keeps the recorded {key}; change its fields ({key}.<field>=...)")
        OmegaConf.update(cfg, key, value, merge=False, force_add=override.is_add())
    return cfg


def relaunch_trial(run_dir: Path, sweep_dir: Path, trial: str) -> float | None:
    """Run a sweep's trial again in its own directory from its recorded config, continuing from its last
    checkpoint where it has one; its result or failure is recorded as for any trial. Returns its objective."""
    from framework.engine.checkpoint import latest_checkpoint

    cfg = with_overrides(recorded_config(run_dir), ["trainer.resume=auto"])
    last = latest_checkpoint(run_dir / "checkpoints")
    start = f"from {last.name}" if last is not None else "from the start (no checkpoint)"
    print(f"trial {trial}: relaunched in {run_dir} from its recorded config, {start}", flush=True)
    return run_trial(cfg, run_dir, trial, sweep_dir)
