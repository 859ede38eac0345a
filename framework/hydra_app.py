"""`plait train`: Hydra composes `conf/train.yaml` with the user's overrides, then `framework.run.train` runs.

Component choices are checked before Hydra sees them, so a typo gets the known names and the
closest one instead of a stack trace.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from omegaconf import DictConfig

from framework.config import COMPONENT_GROUPS, store_schemas
from framework.plugins import load_plugins
from framework.registry import REGISTRIES, UnknownComponentError


def group_options(group: str, conf: Path) -> set[str]:
    """Every option of a config group: registered keys, ConfigStore entries and YAML presets."""
    from hydra.core.config_store import ConfigStore

    options = set(REGISTRIES[group].names()) if group in REGISTRIES else set()
    stored = ConfigStore.instance().repo.get(group, {})
    options |= {name.removesuffix(".yaml") for name in stored if isinstance(name, str)}
    options |= {p.stem for p in (conf / group).glob("*.yaml")}
    return options


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
        if group not in COMPONENT_GROUPS or override.is_delete() or override.package:
            continue
        if override.is_sweep_override():
            values = list(override.sweep_string_iterator())
        else:
            value = override.value()
            values = value if isinstance(value, list) else [value]
        known = sorted(group_options(group, conf))
        for value in values:
            if isinstance(value, str) and value not in known:
                raise UnknownComponentError(REGISTRIES[group].unknown_message(value, known))


def _task(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from framework.cli import fail
    from framework.registry import PlaitError
    from framework.run import train
    from framework.summary import print_run_summary

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    sweeping = hc.mode == RunMode.MULTIRUN
    if sweeping and "wandb" in cfg.get("logger", {}) and cfg.logger.wandb.get("group") is None:
        cfg.logger.wandb.group = Path(hc.sweep.dir).name  # one W&B group per sweep
    try:
        result = train(cfg, run_dir)
    except PlaitError as exc:
        if not sweeping:
            fail(str(exc))
        return _record_failure(run_dir, hc.job.num, f"{exc}\n")
    except Exception:
        if not sweeping:
            raise
        return _record_failure(run_dir, hc.job.num, traceback.format_exc())
    print_run_summary(result)
    return result.objective


def _record_failure(run_dir: Path, trial: int, text: str) -> None:
    """A failed trial is written to FAILED in its directory and does not stop the sweep."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "FAILED").write_text(text)
    print(f"trial {trial} failed (see {run_dir / 'FAILED'}): {text.strip().splitlines()[-1]}", file=sys.stderr)
    return None


def run_hydra_train(argv: list[str], conf: Path) -> None:
    """Run Hydra's full CLI (overrides, -m, --cfg, --help, completion) on `conf/train.yaml`."""
    import hydra

    load_plugins()
    store_schemas()
    check_overrides(argv, conf)
    sys.argv = ["plait", *argv]
    hydra.main(config_path=str(conf), config_name="train", version_base="1.3")(_task)()
