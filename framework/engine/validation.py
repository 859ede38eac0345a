"""Errors before work: every config value is checked against its component's schema and range rules before
any data is read or tokenizer trained, and credential-like keys are refused.

Schemas declare closed choices and ranges with the helpers of `framework.schema`; `validate_config` runs them
all with the full key in every message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from framework.engine.batching import token_batcher
from framework.engine.monitor import check_monitor, monitor_used
from framework.errors import ConfigValueError, closest
from framework.kinds import REGISTRIES
from framework.schema import NAME_FIELD, finite, require
from framework.secrets import looks_like_secret

if TYPE_CHECKING:
    from framework.task import Task

MIN_VAL_EXAMPLES = 10  # fewer make the validation metrics (and a sweep's objective) mostly noise

# --- whole-config validation --------------------------------------------------------------------------------


def unknown_key_error(key: str, known: Iterable[str], owner: str) -> ConfigValueError:
    """`<key> is not a field of <owner>; did you mean <closest>? Fields: ...` (`key` is the full dotted key)."""
    parent, _, leaf = key.rpartition(".")
    fields = sorted(known)
    near = closest(leaf, fields)
    hint = f" did you mean {parent + '.' if parent else ''}{near}?" if near else ""
    return ConfigValueError(key, f" is not a field of {owner};{hint} Fields: {', '.join(fields)}.")


def _fields(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema) if f.name != NAME_FIELD]


def _check_keys(node: Any, schema: type, prefix: str, owner: str) -> None:
    from omegaconf import DictConfig

    keys: Iterable[object] = node.keys() if isinstance(node, (DictConfig, dict)) else []
    allowed = set(_fields(schema)) | {NAME_FIELD}
    for key in keys:
        if key not in allowed:
            raise unknown_key_error(f"{prefix}.{key}" if prefix else str(key), _fields(schema), owner)


def _typed(convert: Any, prefix: str) -> Any:
    """Run `convert()`, turning OmegaConf's type errors into a ConfigValueError with the full key."""
    from omegaconf.errors import InterpolationResolutionError, OmegaConfBaseException

    try:
        return convert()
    except InterpolationResolutionError:
        raise  # not a bad value: the caller decides (outside Hydra, ${hydra:...} cannot resolve)
    except OmegaConfBaseException as exc:
        full_key = getattr(exc, "full_key", "") or ""
        key = f"{prefix}.{full_key}" if prefix and full_key else (full_key or prefix)
        raise ConfigValueError(key, f": {getattr(exc, 'msg', None) or exc}".split("\n")[0]) from None


def check_finite(obj: Any) -> None:
    """Every float of dataclass `obj` (alone or in a list) is finite: no option means anything at inf or nan
    (null turns an optional one off), and a range check written as `value > 0` would let inf through."""
    for f in dataclasses.fields(obj) if dataclasses.is_dataclass(obj) else ():
        value = getattr(obj, f.name)
        items = value if isinstance(value, (list, tuple)) else [value]
        require(all(finite(v) for v in items), f.name, value, "finite")


def _run_checks(obj: Any, prefix: str) -> None:
    try:
        check_finite(obj)
        check = getattr(obj, "validate", None)
        if callable(check):
            check()
    except ConfigValueError as exc:
        raise exc.under(prefix) from None


def validate_config(cfg: Any, skip: tuple[str, ...] = ()) -> None:
    """Check a composed train config before any work: no unknown keys (the closest real field is suggested),
    every component node converts to its registered schema, and every schema's range checks pass.

    `skip` names component kinds given as objects instead of config (their nodes are not checked).

    Raises ConfigValueError (or UnknownComponentError) naming the full key and what is allowed.
    """
    from omegaconf import DictConfig, OmegaConf

    from framework.engine.config import TrainConfig, TrainerConfig
    from framework.registry import to_dataclass

    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    for key in _secret_keys(cfg):
        raise ConfigValueError(key, " looks like a credential; pass credentials through environment variables")
    _check_keys(cfg, TrainConfig, "", "the train config")
    trainer_node = cfg.get("trainer") or {}
    _check_keys(trainer_node, TrainerConfig, "trainer", "trainer")
    trainer = _typed(
        lambda: OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainerConfig), trainer_node)), "trainer"
    )
    _run_checks(trainer, "trainer")
    _check_adapter(cfg)
    for kind, registry in REGISTRIES.items():
        node = cfg.get(kind)
        if node is None or kind in skip:
            continue
        items = list(node.items()) if registry.multi else [("", node)]
        for sub_name, sub in items:
            prefix = f"{kind}.{sub_name}" if sub_name else kind
            name = sub.get(NAME_FIELD) if isinstance(sub, (DictConfig, dict)) else None
            if isinstance(name, str) and name in registry:
                _check_keys(sub, registry.config_class(name), prefix, f"{kind} '{name}'")
            typed = _typed(lambda r=registry, s=sub: to_dataclass(r, s), prefix)
            _run_checks(typed, prefix)
    if "task" not in skip and (monitor_used(trainer) or trainer.max_tokens is not None):
        task = REGISTRIES["task"].build(cfg.task)  # tasks are cheap to construct; setup() is what reads data
        if monitor_used(trainer):
            check_monitor(trainer, cfg.get("objective", TrainConfig.objective), task)
        if trainer.max_tokens is not None:
            token_batcher(task, trainer.max_tokens)  # a task of fixed-length examples cannot batch by tokens


def _check_adapter(cfg: Any) -> None:
    """The `adapter` node: known option, known keys, typed values, range checks (`adapter.rank` ...)."""
    from omegaconf import OmegaConf

    from framework.engine.adapter_config import GROUP, adapter_name, adapter_node, adapter_schema, check_base_given

    node, schema = adapter_node(cfg), adapter_schema(adapter_name(cfg))
    _check_keys(node, schema, GROUP, f"adapter '{adapter_name(cfg)}'")
    typed = _typed(lambda: OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node)), GROUP)
    _run_checks(typed, GROUP)
    check_base_given(cfg)


def check_split_sizes(task: Task, trainer: Any, task_cfg: Any | None) -> list[str]:
    """Once the task has read its data: a batch larger than the training split is an error naming both numbers
    (each step would take the whole split), and so is an example longer than trainer.max_tokens; a validation
    split of fewer than MIN_VAL_EXAMPLES examples is a warning, returned, naming the task's keys that hold out more."""
    keys = task_cfg if task_cfg is not None else {}  # None: a task given as an object (from Python)
    budget = getattr(trainer, "max_tokens", None)
    if budget is not None:  # an example longer than the budget fails here, at the first batch, not mid-run
        first = token_batcher(task, budget).token_batches("train", max_tokens=budget, epoch_seed=0)
        next(iter(first), None)
    n_train = task.num_examples("train")
    if n_train is not None and budget is None and trainer.batch_size > n_train:
        limit = keys.get("train_limit")
        raise ConfigValueError(
            "trainer.batch_size",
            f"={trainer.batch_size} is larger than the training split ({n_train} examples"
            f"{f' under task.train_limit={limit}' if limit is not None else ''}); use at most {n_train}",
        )
    n_val = task.num_examples("val") if "val" in task.splits() else None
    if n_val is None or n_val >= MIN_VAL_EXAMPLES or keys.get("eval_limit") is not None:  # a limit asked for few
        return []
    fixes = [f"raise task.val_ratio (now {keys['val_ratio']})"] if "val_ratio" in keys else []
    fixes += ["give a validation file with task.val_path=<file>"] if "val_path" in keys else []
    fix = f"; {' or '.join(fixes)}" if fixes else ""
    return [f"the validation split has only {n_val} example(s), so its metrics are mostly noise{fix}"]


def _secret_keys(cfg: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    found: list[str] = []
    if isinstance(cfg, (DictConfig, dict)):
        for key in cfg:
            full = f"{prefix}.{key!s}" if prefix else str(key)
            if looks_like_secret(str(key)):
                found.append(full)
            child = cfg._get_node(key) if isinstance(cfg, DictConfig) else cfg[key]
            if isinstance(child, (DictConfig, dict)):
                found += _secret_keys(child, full)
    return found
