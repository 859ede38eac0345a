"""Registries: one per component kind, mapping a config key to a factory and its dataclass schema.

Registering a component also stores its schema in Hydra's ConfigStore under the kind's config
group, so `model=<key>` on the command line selects it and its fields are type-checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:  # the product types import this module; see framework/factories.py for the factory aliases
    from torch import nn
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

    from framework.callback import Callback
    from framework.logger import Logger
    from framework.precision import PrecisionStrategy
    from framework.task import Task
    from framework.tokenizer import Tokenizer

T = TypeVar("T")

NAME_FIELD = "_name_"


class PlaitError(Exception):
    """A user-facing error: the message names the problem and the fix; the CLI prints it without a traceback."""


class UnknownComponentError(PlaitError, KeyError):
    """Raised when a config names a component key that no plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateComponentError(PlaitError):
    """Raised when two providers register the same key for one kind."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a component came from: the distribution that provides it and its version."""

    distribution: str
    version: str
    module: str


@dataclass
class BrokenPlugin:
    """A plugin entry point that failed to import; kept so that selecting it explains why."""

    entry_point: str
    distribution: str
    error: str


@dataclass
class ComponentConfig:
    """Base of every component schema; `_name_` carries the registry key the config builds."""

    _name_: str = "???"


@dataclass
class DisabledPlugin:
    """A plugin entry point the user switched off with PLAIT_DISABLE_PLUGINS."""

    entry_point: str
    distribution: str


@dataclass(frozen=True)
class Clash:
    """Two distributions registered one key: `winner` keeps it, `loser` is reachable as `qualified`."""

    kind: str
    key: str
    winner: str
    loser: str
    qualified: str


@dataclass
class _Entry(Generic[T]):
    factory: Callable[..., T]
    config: type
    info: PluginInfo


BUILTIN_DISTRIBUTION = "plait"  # the built-ins' distribution: its keys are never taken over


def distribution_id(distribution: str) -> str:
    """A distribution name as it appears in a provider-qualified key: `plait-textcnn` -> `plait_textcnn`."""
    return distribution.lower().replace("-", "_").replace(".", "_")


def qualified_key(distribution: str, key: str) -> str:
    """The provider-qualified key a clashing component is reachable under: `plait_textcnn.lstm`."""
    return f"{distribution_id(distribution)}.{key}"


def _rank(distribution: str) -> tuple[bool, str]:
    """Who keeps a contested key: the built-ins first, then distributions in name order."""
    return (distribution != BUILTIN_DISTRIBUTION, distribution_id(distribution))


@dataclass
class Transaction:
    """What one plugin changed while loading, so a failure can undo all of it (all-or-nothing)."""

    info: PluginInfo
    undo: list[Callable[[], None]] = field(default_factory=list)
    clashes: list[Clash] = field(default_factory=list)

    def rollback(self) -> None:
        """Undo every registration and ConfigStore node of this plugin, newest first."""
        for step in reversed(self.undo):
            step()
        self.undo.clear()
        self.clashes.clear()


_loading: list[Transaction] = []  # the plugin being imported by framework.plugins (a stack)


@contextlib.contextmanager
def providing(distribution: str, version: str) -> Iterator[Transaction]:
    """Attribute components registered inside this block to `distribution`; an exception escaping the block
    rolls back everything registered in it; on success its clash warnings are issued (one per clash)."""
    transaction = Transaction(PluginInfo(distribution, version, ""))
    _loading.append(transaction)
    try:
        yield transaction
    except BaseException:
        transaction.rollback()
        raise
    finally:
        _loading.pop()
    for clash in transaction.clashes:
        _announce(clash)


class PluginClashWarning(UserWarning):
    """Warned once per key that two distributions register: names both and how to reach each."""


def _announce(clash: Clash) -> None:
    Registry.clashes.append(clash)
    why = "built-ins are never taken over" if clash.winner == BUILTIN_DISTRIBUTION else "first in name order"
    warnings.warn(
        f"{clash.kind} '{clash.key}' is registered by both {clash.winner} and {clash.loser}: "
        f"`{clash.kind}={clash.key}` stays {clash.winner}'s ({why}); "
        f"{clash.loser}'s is reachable as `{clash.kind}={clash.qualified}`.",
        PluginClashWarning,
        stacklevel=4,
    )


def record_clash(clash: Clash) -> None:
    """Announce a clash now, or when the plugin being loaded has finished loading without error."""
    if _loading:
        _loading[-1].clashes.append(clash)
    else:
        _announce(clash)


def store_node(group: str, name: str, node: Any, *, package: str | None = None, provider: str = "plait") -> None:
    """ConfigStore.store that the loading plugin's transaction can undo."""
    from hydra.core.config_store import ConfigStore

    repo = ConfigStore.instance().repo
    filename = name if name.endswith(".yaml") else f"{name}.yaml"
    previous = repo.get(group, {}).get(filename)
    ConfigStore.instance().store(group=group, name=name, node=node, package=package, provider=provider)

    def undo() -> None:
        options = repo.get(group, {})
        if previous is None:
            options.pop(filename, None)
        else:
            options[filename] = previous

    if _loading:
        _loading[-1].undo.append(undo)


@functools.lru_cache(maxsize=1)
def _entry_point_providers() -> dict[str, PluginInfo]:
    """Top-level package of each `plait.plugins` entry point -> the distribution that declares it."""
    providers: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group="plait.plugins"):
        if ep.dist is not None:
            providers.setdefault(ep.value.split(".")[0].split(":")[0], PluginInfo(ep.dist.name, ep.dist.version, ""))
    return providers


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def provider_of(module: str) -> PluginInfo:
    """The distribution that ships `module`: the plugin being loaded, else the entry point or installed
    metadata that names its top-level package (imported directly, e.g. by a test, it is still found)."""
    if _loading:
        return PluginInfo(_loading[-1].info.distribution, _loading[-1].info.version, module)
    top = module.split(".")[0]
    if top in _entry_point_providers():
        info = _entry_point_providers()[top]
        return PluginInfo(info.distribution, info.version, module)
    dists = _packages_distributions().get(top, [])
    if dists:
        name = dists[0]
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "unknown"
        return PluginInfo(name, version, module)
    return PluginInfo(top, "unknown", module)


def closest(name: str, choices: list[str]) -> str | None:
    """The known name most similar to `name` (None only when there are no choices)."""
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.0)
    return found[0] if found else None


def _same_factory(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """True when a module is imported again: the same function, re-created."""
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


class Registry(Generic[T]):
    """Maps keys to factories for one kind of component ("model", "precision", ...)."""

    broken: list[BrokenPlugin] = []  # shared by all kinds; filled by framework.plugins
    disabled: list[DisabledPlugin] = []  # switched off by PLAIT_DISABLE_PLUGINS; filled by framework.plugins
    clashes: list[Clash] = []  # keys two distributions registered; see `record_clash`

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


TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer")
MODELS: Registry[nn.Module] = Registry("model")
PRECISIONS: Registry[PrecisionStrategy] = Registry("precision")
OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
SCHEDULERS: Registry[LRScheduler] = Registry("scheduler")
TASKS: Registry[Task] = Registry("task")
LOGGERS: Registry[Logger] = Registry("logger", multi=True)
CALLBACKS: Registry[Callback] = Registry("callback", multi=True)

REGISTRIES: dict[str, Registry[Any]] = {
    r.kind: r for r in (TOKENIZERS, MODELS, PRECISIONS, OPTIMIZERS, SCHEDULERS, TASKS, LOGGERS, CALLBACKS)
}


def registry_for(kind: str) -> Registry[Any]:
    """The registry of one kind; an unknown kind lists the known kinds."""
    if kind in REGISTRIES:
        return REGISTRIES[kind]
    near = closest(kind, list(REGISTRIES))
    hint = f" Closest match: '{near}'." if near else ""
    raise PlaitError(f"Unknown component kind '{kind}'. Kinds: {', '.join(REGISTRIES)}.{hint}")


__all__ = [
    "CALLBACKS",
    "LOGGERS",
    "MODELS",
    "OPTIMIZERS",
    "PRECISIONS",
    "REGISTRIES",
    "SCHEDULERS",
    "TASKS",
    "TOKENIZERS",
    "BUILTIN_DISTRIBUTION",
    "BrokenPlugin",
    "Clash",
    "DisabledPlugin",
    "PluginClashWarning",
    "ComponentConfig",
    "DuplicateComponentError",
    "PlaitError",
    "PluginInfo",
    "Registry",
    "UnknownComponentError",
    "distribution_id",
    "providing",
    "qualified_key",
    "registry_for",
    "store_node",
]
