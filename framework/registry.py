"""The registry: one per component kind, mapping a config key to a factory and its dataclass schema.

Registering a component also stores its schema in Hydra's ConfigStore under the kind's config group, so
`model=<key>` on the command line selects it and its fields are type-checked. The registries of the eight
kinds live in `framework.kinds`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from framework.errors import DuplicateComponentError, PlaitError, UnknownComponentError, closest
from framework.providers import (
    BROKEN,
    CLASHES,
    DISABLED,
    BrokenPlugin,
    Clash,
    DisabledPlugin,
    PluginInfo,
    _loading,
    _rank,
    distribution_id,
    provider_of,
    qualified_key,
    record_clash,
    store_node,
)
from framework.schema import NAME_FIELD

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    factory: Callable[..., T]
    config: type
    info: PluginInfo


def _same_factory(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """True when a module is imported again: the same function, re-created."""
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


class Registry(Generic[T]):
    """Maps keys to factories for one kind of component ("model", "precision", ...)."""

    broken: list[BrokenPlugin] = BROKEN  # shared by all kinds; filled by framework.plugins
    disabled: list[DisabledPlugin] = DISABLED  # switched off by PLAIT_DISABLE_PLUGINS; filled by framework.plugins
    clashes: list[Clash] = CLASHES  # keys two distributions registered; see `record_clash`

    def __init__(self, kind: str, *, multi: bool = False) -> None:
        self.kind = kind
        self.group = kind
        self.multi = multi  # several options selected at once, each under `<kind>.<key>`
        self._entries: dict[str, _Entry[T]] = {}

    def register(self, name: str, *, config: type) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register `factory(cfg, **deps)` under `name` with dataclass schema `config`."""
        if not dataclasses.is_dataclass(config):
            raise TypeError(f"{self.kind} '{name}': config must be a dataclass, got {config!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            entry = _Entry(factory, config, provider_of(factory.__module__))
            old = self._entries.get(name)
            if old is None or _same_factory(old.factory, factory):
                self._put(name, entry)
                return factory
            new_dist, old_dist = entry.info.distribution, old.info.distribution
            if new_dist == old_dist:
                raise DuplicateComponentError(
                    f"{self.kind} '{name}' is registered twice: by {old_dist} ({old.info.module}) "
                    f"and by {new_dist} ({entry.info.module}). Rename one of the keys."
                )
            if _rank(new_dist) < _rank(old_dist):  # the newcomer outranks the holder: the holder moves aside
                self._put(qualified_key(old_dist, name), old)
                self._put(name, entry)
                record_clash(Clash(self.kind, name, new_dist, old_dist, qualified_key(old_dist, name)))
            else:
                self._put(qualified_key(new_dist, name), entry)
                record_clash(Clash(self.kind, name, old_dist, new_dist, qualified_key(new_dist, name)))
            return factory

        return decorator

    def _put(self, name: str, entry: _Entry[T]) -> None:
        """Set one entry and its ConfigStore node; undone if the plugin being loaded fails."""
        previous = self._entries.get(name)
        self._entries[name] = entry
        self._store(name, entry.config)

        def undo() -> None:
            if previous is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = previous

        if _loading:
            _loading[-1].undo.append(undo)

    def _store(self, name: str, config: type) -> None:
        from omegaconf import OmegaConf

        node = OmegaConf.structured(config)
        node[NAME_FIELD] = name
        store_node(self.group, name, node, package=self.package(name), provider=self.kind)

    def package(self, name: str) -> str | None:
        """Where an option's fields land in the composed config: `logger.<name>` for multi kinds, else the group."""
        return f"{self.group}.{name.replace('.', '_')}" if self.multi else None

    def names(self) -> list[str]:
        """Registered keys, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def _entry(self, name: str) -> _Entry[T]:
        if name in self._entries:
            return self._entries[name]
        raise UnknownComponentError(self.unknown_message(name))

    def unknown_message(self, name: str, known: list[str] | None = None) -> str:
        """The error text for an unknown key: the known keys (or options), the closest one, broken plugins."""
        known = known if known is not None else self.names()
        msg = f"Unknown {self.kind} '{name}'. Known {self.kind} names: {', '.join(known) or '(none)'}."
        near = closest(name, known)
        if near:
            msg += f" Closest match: '{near}'."
        for b in self.broken:
            msg += (
                f"\nNote: plugin '{b.entry_point}' from distribution '{b.distribution}' failed to import "
                f"and may provide it: {b.error}"
            )
        for d in self.disabled:
            owns = name.startswith(f"{distribution_id(d.distribution)}.")
            msg += (
                f"\nNote: plugin '{d.entry_point}' from distribution '{d.distribution}' "
                f"{'provides it and ' if owns else 'may provide it but '}is disabled by PLAIT_DISABLE_PLUGINS."
            )
        return msg

    def config_class(self, name: str) -> type:
        """The dataclass schema registered for `name`."""
        return self._entry(name).config

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered for `name`."""
        return self._entry(name).factory

    def source(self, name: str) -> PluginInfo:
        """Which distribution (and version) provides `name`."""
        return self._entry(name).info

    def config(self, name: str, **overrides: Any) -> Any:
        """A schema instance for `name` with defaults, `_name_` set, and `overrides` applied."""
        cfg = self.config_class(name)(**overrides)
        setattr(cfg, NAME_FIELD, name)
        return cfg

    def build(self, cfg: Any, **deps: Any) -> T:
        """Build the component that `cfg` names: `factory(typed_cfg, **deps)`.

        `cfg` may be the dataclass itself, a DictConfig composed by Hydra, or a plain mapping.
        """
        typed = to_dataclass(self, cfg)
        return self._entry(getattr(typed, NAME_FIELD)).factory(typed, **deps)


def to_dataclass(registry: Registry[Any], cfg: Any) -> Any:
    """Turn a DictConfig / mapping / dataclass for `registry` into its typed dataclass instance."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        name = getattr(cfg, NAME_FIELD, None)
        if name in (None, "???"):
            name = _name_for_class(registry, type(cfg))
            setattr(cfg, NAME_FIELD, name)
        registry._entry(name)
        return cfg
    from omegaconf import DictConfig, OmegaConf

    data: dict[Any, Any]
    if isinstance(cfg, DictConfig):
        data = cast(dict[Any, Any], OmegaConf.to_container(cfg, resolve=True))  # a DictConfig gives a dict
    elif isinstance(cfg, Mapping):
        data = dict(cfg)
    else:
        raise PlaitError(
            f"{registry.kind} config must be a mapping with a '{NAME_FIELD}' key, got {type(cfg).__name__}"
        )
    name = data.get(NAME_FIELD)
    if not name or name == "???":
        raise PlaitError(
            f"{registry.kind} config has no '{NAME_FIELD}' key, so it names no component. "
            f"Start presets from a registered option (defaults: [<key>]). Known: {', '.join(registry.names())}"
        )
    schema = registry._entry(name).config
    merged = OmegaConf.merge(OmegaConf.structured(schema), data)
    return OmegaConf.to_object(merged)


def _name_for_class(registry: Registry[Any], cls: type) -> str:
    for key, entry in registry._entries.items():
        if entry.config is cls:
            return key
    raise PlaitError(f"{cls.__name__} is not the schema of any registered {registry.kind}")
