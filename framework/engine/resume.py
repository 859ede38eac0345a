"""The resume contract: the checkpoint's saved config is the truth; a relaunch may change only what is safe.

Every key of the new config that differs from the saved one falls in one of three classes:

- safe to change: how long to train (`max_steps`, `max_time`, early stopping's patience), the cadence of logging /
  evaluation / checkpoints and how many are kept, loggers, callbacks, the device, threads, compilation and
  prefetching, the objective, the extra validation sets (`SAFE_ON_RESUME`): applied. A changed monitored metric is refused when the trainer
  restores its bookkeeping (framework.engine.stopping), since the ranking and patience would mix two metrics;
- changes the optimisation (`OPTIMISATION`: optimizer, scheduler, clipping, accumulation): refused, because
  the restored optimizer and scheduler states would silently override it (start a new run instead);
- anything else (model shape, tokenizer, task data, precision, seed, batch size): incompatible with the
  checkpoint, refused.

Refusals happen before anything is written, and list every differing key with its saved and new value.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.engine.adapter_config import GROUP, NoAdapterConfig
from framework.engine.config import TrainConfig
from framework.errors import PlaitError
from framework.kinds import REGISTRIES

SAFE_ON_RESUME = (
    "trainer.max_steps",
    "trainer.log_every_n_steps",
    "trainer.eval_every_n_steps",
    "trainer.eval_samples",
    "trainer.checkpoint_every_n_steps",
    "trainer.keep_last_checkpoints",
    "trainer.keep_best_checkpoints",
    "trainer.checkpoint_dir",  # where the copies go, not what they hold
    "trainer.early_stopping",
    "trainer.max_time",
    "trainer.eval_batch_size",
    "trainer.resume",
    "trainer.device",
    "trainer.num_threads",
    "trainer.detect_anomaly_every_step",
    "trainer.compile",
    "trainer.prefetch_batches",
    "trainer.overwrite",
    "logger",
    "callback",
    "objective",
    "name",
    "task.cache",
    "task.cache_dir",
    "task.eval_decode_limit",
    "task.eval_beam_size",
    "task.eval_max_blocks",
    "task.extra_val_paths",  # more (or fewer) validation sets: evaluation only
    "model.activation_checkpointing",  # the same numbers, less memory
)
OPTIMISATION = ("optimizer", "scheduler", "trainer.clip_grad_norm", "trainer.grad_accum_steps")


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


_MISSING = object()


def schema_default(cfg: DictConfig, key: str) -> Any:
    """The default a newer Plait gives `key` (trainer fields, or a field of the configured component), else missing."""
    group, _, rest = key.partition(".")
    try:
        if group == "trainer":
            node: Any = TrainConfig().trainer
        elif group == GROUP:  # a config saved before the adapter group existed trained every weight
            node = NoAdapterConfig()
        elif group in REGISTRIES and not REGISTRIES[group].multi:
            node = REGISTRIES[group].config_class(str(cfg[group]["_name_"]))()
        else:
            return _MISSING
        for part in rest.split("."):
            node = getattr(node, part)
    except (AttributeError, KeyError, TypeError, ValueError, PlaitError):
        return _MISSING
    if dataclasses.is_dataclass(node):
        return _MISSING  # a nested section: its leaves are compared one by one
    return node.value if isinstance(node, Enum) else node


def config_changes(saved_yaml: str, cfg: DictConfig) -> dict[str, tuple[Any, Any]]:
    """Keys whose resolved values differ between the saved config and `cfg`: key -> (saved, new).

    A key the saved config lacks, set to its schema's default, is no change: a field a newer Plait added.
    """
    saved = flatten(OmegaConf.to_container(OmegaConf.create(saved_yaml), resolve=True))
    new = flatten(OmegaConf.to_container(cfg, resolve=True))
    return {
        key: (saved.get(key), new.get(key))
        for key in sorted(set(saved) | set(new))
        if saved.get(key, _MISSING) != new.get(key, _MISSING)
        and not (key not in saved and new.get(key, _MISSING) == schema_default(cfg, key))
    }


def check_resume(saved_yaml: str, cfg: DictConfig, checkpoint: Any) -> list[str]:
    """Refuse a relaunch whose config changes what the checkpoint cannot honour; returns the safe changed keys."""
    changes = config_changes(saved_yaml, cfg)
    optimisation = {k: v for k, v in changes.items() if not _under(k, SAFE_ON_RESUME) and _under(k, OPTIMISATION)}
    incompatible = {k: v for k, v in changes.items() if not _under(k, SAFE_ON_RESUME + OPTIMISATION)}
    if not optimisation and not incompatible:
        return [k for k in changes if k != "trainer.resume"]
    lines = [f"cannot resume from {checkpoint} with a different configuration:"]
    for title, found in (
        ("incompatible with the checkpoint (model, tokenizer, task data, precision, seed, batch size)", incompatible),
        ("would change the optimisation, which the restored optimizer and scheduler state override", optimisation),
    ):
        if found:
            lines.append(f"  {title}:")
            lines += [f"    {key}: {old!r} -> {new!r}" for key, (old, new) in found.items()]
    lines.append(
        "Resume with the saved values (drop those overrides), or start a new run in another directory "
        "(hydra.run.dir=...). Safe to change on resume: max_steps, the log/eval/checkpoint cadence, loggers, "
        "callbacks, device and threads."
    )
    raise PlaitError("\n".join(lines))
