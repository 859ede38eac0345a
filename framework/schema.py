"""Config schemas: the base of every component's dataclass, closed choices, and the range checks schemas use.

A component declares its options once, as a dataclass extending `ComponentConfig`; closed choices are `Choice`
enums (OmegaConf rejects other values at compose time, listing the allowed ones) and ranges go in a `validate()`
method built from the helpers here (`at_least`, `above`, `between`, `require`), each raising `ConfigValueError`
with the field's name; the engine prefixes the full key. Every range check refuses inf and nan ("must be
finite"), which a plain comparison would let through (`inf > 0`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from framework.errors import ConfigValueError

NAME_FIELD = "_name_"


@dataclass
class ComponentConfig:
    """Base of every component schema; `_name_` carries the registry key the config builds."""

    _name_: str = "???"


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


def finite(value: Any) -> bool:
    """False for a float inf or nan (a range check must not let them through: `inf > 0` holds)."""
    return not isinstance(value, float) or math.isfinite(value)


def _bounded(ok: bool, name: str, value: Any, rule: str) -> None:
    """`require` for a range rule, naming finiteness when the value is inf or nan."""
    require(finite(value) and ok, name, value, rule if finite(value) else f"finite and {rule}")


def at_least(cfg: Any, minimum: float, *names: str) -> None:
    """Each named field of `cfg` (when not None) is finite and >= `minimum`."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None:
            _bounded(value >= minimum, name, value, f">= {minimum}")


def above(cfg: Any, bound: float, *names: str) -> None:
    """Each named field of `cfg` (when not None) is finite and > `bound`."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None:
            _bounded(value > bound, name, value, f"> {bound}")


def between(cfg: Any, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> None:
    """Field `name` of `cfg` (when not None) is finite and lies in low..high (each end closed unless `*_open`)."""
    value = getattr(cfg, name)
    if value is None:
        return
    ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    _bounded(ok, name, value, f"in {interval}")


def divides(cfg: Any, divisor: str, name: str) -> None:
    """Field `name` of `cfg` is a multiple of field `divisor` (e.g. d_model of n_heads)."""
    value, by = getattr(cfg, name), getattr(cfg, divisor)
    require(by >= 1 and value % by == 0, divisor, by, f">= 1 and divide {name}={value}")
