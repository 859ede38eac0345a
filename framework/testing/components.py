"""The component under test, as every contract suite reaches it: built from its registry (plugins loaded),
sized by its tiny test options, and checked for documented options."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from framework.plugins import load_plugins
from framework.registry import Registry
from framework.schema import NAME_FIELD

T = TypeVar("T")


def loaded(registry: Registry[T]) -> Registry[T]:
    """`registry` with the plugins loaded (every registry is empty until they are)."""
    load_plugins()
    return registry


def build_component(registry: Registry[T], key: str, options: dict[str, Any] | None = None, **deps: Any) -> T:
    """Component `key` of `registry` with `options` set, its factory given the keyword arguments `deps`."""
    return loaded(registry).build(registry.config(key, **(options or {})), **deps)


def tiny_config(registry: Registry[Any], key: str, kind: str | None = None) -> dict[str, Any] | None:
    """The tiny test options a component declares through `Config.tiny(kind)`: {} when it declares none,
    None when it declares that it does not support `kind`."""
    tiny = getattr(loaded(registry).config_class(key), "tiny", None)
    if tiny is None:
        return {}
    options: dict[str, Any] | None = tiny(kind)
    return options


def check_documented(registry: Registry[Any], key: str) -> None:
    """Assert every option carries a trailing `# comment` (its `plait describe` text) and the factory a docstring."""
    from framework.cli.describe import field_comments  # the testing layer sits above the CLI; loaded on use

    schema = loaded(registry).config_class(key)
    comments = field_comments(schema)
    undocumented = [f.name for f in dataclasses.fields(schema) if f.name != NAME_FIELD and f.name not in comments]
    assert not undocumented, f"{schema.__name__} fields without a trailing # comment: {undocumented}"
    assert (registry.factory(key).__doc__ or "").strip(), "the factory's docstring is its `plait list` line"
