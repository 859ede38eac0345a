"""Errors before work: every config value is checked against its component's schema and range rules before
any data is read or tokenizer trained, and credential-like keys are refused.

Schemas declare closed choices as `Choice` enums (OmegaConf rejects other values at compose time, listing
the allowed ones) and ranges in a `validate()` method built from the helpers here (`at_least`, `above`,
`between`, `require`); `validate_config` runs them all with the full key in every message.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from framework.registry import NAME_FIELD, REGISTRIES, PlaitError, closest

SECRET_SEGMENTS = frozenset({"token", "secret", "password", "passwd"})
SECRET_SUBSTRINGS = ("api_key", "apikey")
REDACTED = "<redacted>"


class ConfigValueError(PlaitError):
    """A config value outside what its key allows; the message names the full key and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}{self.message}"

    def under(self, prefix: str) -> ConfigValueError:
        """The same error with `prefix.` in front of its key (a schema knows only its own field names)."""
        return ConfigValueError(f"{prefix}.{self.key}" if prefix else self.key, self.message)


class Choice(str, Enum):
    """Base of closed-choice config fields: members are strings (`== "mean"` holds) named like their values."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The allowed values, in declaration order."""
        return tuple(str(m.value) for m in cls)


# --- range checks: the one place that words them ------------------------------------------------------------


def require(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ConfigValueError(`key=value: must be <allowed>`) unless `ok`."""
    if not ok:
        raise ConfigValueError(key, f"={value!r} is not allowed: must be {allowed}")


def at_least(cfg: Any, minimum: float, *names: str) -> None:
    """Each named field of `cfg` (when not None) is >= `minimum`."""
    for name in names:
        value = getattr(cfg, name)
        require(value is None or value >= minimum, name, value, f">= {minimum}")


def above(cfg: Any, bound: float, *names: str) -> None:
    """Each named field of `cfg` (when not None) is > `bound`."""
    for name in names:
        value = getattr(cfg, name)
        require(value is None or value > bound, name, value, f"> {bound}")


def between(cfg: Any, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> None:
    """Field `name` of `cfg` (when not None) lies in the interval low..high (each end closed unless `*_open`)."""
    value = getattr(cfg, name)
    if value is None:
        return
    ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    require(ok, name, value, f"in {interval}")


def divides(cfg: Any, divisor: str, name: str) -> None:
    """Field `name` of `cfg` is a multiple of field `divisor` (e.g. d_model of n_heads)."""
    value, by = getattr(cfg, name), getattr(cfg, divisor)
    require(by >= 1 and value % by == 0, divisor, by, f">= 1 and divide {name}={value}")


# --- credential-looking keys --------------------------------------------------------------------------------


def looks_like_secret(key: str) -> bool:
    """True for keys that look like credentials: a `.`/`_`/`-` segment equal to token, secret, password or
    passwd, or api_key / apikey anywhere (`tokenizer`, `max_new_tokens`, `n_tokens` are not)."""
    lowered = key.lower().replace("-", "_")
    if any(s in lowered for s in SECRET_SUBSTRINGS):
        return True
    return any(segment in SECRET_SEGMENTS for segment in re.split(r"[._]", lowered))


def override_key(arg: str) -> str | None:
    """The config key of a command-line `key=value` / `+key=value` / `~key` argument, else None."""
    if arg.startswith("-"):
        return None
    if arg.startswith("~"):
        return arg[1:].split("=", 1)[0]
    if "=" not in arg:
        return None
    return arg.split("=", 1)[0].lstrip("+").split("@", 1)[0]


def secret_overrides(argv: Iterable[str]) -> list[str]:
    """Command-line overrides whose key looks like a credential."""
    return [arg for arg in argv if (key := override_key(arg)) is not None and looks_like_secret(key)]


def refuse_secrets(argv: list[str]) -> None:
    """Stop before anything is written when an override's key looks like a credential."""
    found = secret_overrides(argv)
    if found:
        keys = ", ".join(str(override_key(a)) for a in found)
        raise ConfigValueError(
            keys,
            " looks like a credential: credentials are never taken from the command line or config, because both "
            "are written to the run directory and to loggers. Put them in environment variables instead "
            "(W&B reads WANDB_API_KEY; Hugging Face reads HF_TOKEN).",
        )


def scrub_argv(argv: list[str]) -> list[str]:
    """A copy of `argv` with the values of credential-looking `key=value` / `--key value` arguments redacted."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next:
            out.append(REDACTED)
            redact_next = False
            continue
        key = override_key(arg)
        if key is not None and looks_like_secret(key):
            out.append(f"{arg.split('=', 1)[0]}={REDACTED}" if "=" in arg else arg)
        elif arg.startswith("-") and looks_like_secret(arg.lstrip("-").split("=", 1)[0]):
            flag, has_value, _ = arg.partition("=")
            out.append(f"{flag}={REDACTED}" if has_value else arg)
            redact_next = not has_value
        else:
            out.append(arg)
    return out


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


def _run_checks(obj: Any, prefix: str) -> None:
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
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

    from framework.config import TrainConfig, TrainerConfig
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


def choices_text(choice: type[Choice]) -> str:
    """`a | b | c`: how `plait describe` shows a closed choice."""
    return " | ".join(choice.values())


__all__ = [
    "Choice",
    "ConfigValueError",
    "above",
    "at_least",
    "between",
    "looks_like_secret",
    "refuse_secrets",
    "require",
    "scrub_argv",
    "secret_overrides",
    "validate_config",
]
