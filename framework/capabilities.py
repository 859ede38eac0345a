"""Capabilities a component declares, so the core asks "who can do X" instead of naming components.

A component's config dataclass lists them in a class attribute:
`capabilities: ClassVar[frozenset[str]] = frozenset({EXPORTS_TO_TRANSFORMERS})`, and names the fields that only
initialise weights in `init_only_fields: ClassVar[tuple[str, ...]]`.
"""

from __future__ import annotations

from typing import Any

from framework.registry import Registry

EXPORTS_TO_TRANSFORMERS = "exports_to_transformers"  # model: `save_pretrained` writes a transformers directory
REFERENCE_PRECISION = "reference_precision"  # precision: the baseline `plait compare` divides by


def init_only_fields(registry: Registry[Any], name: str) -> tuple[str, ...]:
    """Fields of component `name` that only initialise weights (e.g. pretrained vectors): a reopened run loads its
    trained weights instead, so inference ignores them and needs none of the files they name."""
    return tuple(getattr(registry.config_class(name), "init_only_fields", ()))


def has_capability(registry: Registry[Any], name: str, capability: str) -> bool:
    """True when the component `name` of `registry` declares `capability`."""
    if name not in registry:
        return False
    return capability in getattr(registry.config_class(name), "capabilities", frozenset())


def with_capability(registry: Registry[Any], capability: str) -> list[str]:
    """The registered names of `registry` that declare `capability`, sorted."""
    return [name for name in registry.names() if has_capability(registry, name, capability)]
