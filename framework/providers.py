"""Who provides each component: plugin distributions, their load transactions and key clashes.

While `framework.plugins` imports one plugin, everything that plugin registers is attributed to its distribution
and recorded in a `Transaction`, so a plugin that fails half-way is rolled back whole. Two distributions that
register one key both stay reachable (the loser under a provider-qualified key) and the user is told once.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


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


BUILTIN_DISTRIBUTION = "plait"  # the built-ins' distribution: its keys are never taken over
ENTRY_POINT_GROUP = "plait.plugins"  # the entry-point group every plugin (the built-ins too) is found through


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


CLASHES: list[Clash] = []  # every clash announced so far (`Registry.clashes` is this list)
BROKEN: list[BrokenPlugin] = []  # plugins that failed to import; filled by framework.plugins
DISABLED: list[DisabledPlugin] = []  # plugins switched off by PLAIT_DISABLE_PLUGINS; filled by framework.plugins


def _announce(clash: Clash) -> None:
    CLASHES.append(clash)
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


@dataclass(frozen=True)
class PluginEntry:
    """One `plait.plugins` entry point: its name, the module it names, and its distribution with the version."""

    name: str
    value: str
    distribution: str
    version: str


@functools.lru_cache(maxsize=1)
def plugin_entry_points() -> tuple[PluginEntry, ...]:
    """Every `plait.plugins` entry point, once per process: the built-ins first, then by distribution name, then
    entry-point name. Each distribution's metadata is parsed once (reading it is most of what listing costs)."""
    found: dict[tuple[str, str, str], PluginEntry] = {}
    known: dict[int, tuple[str, str]] = {}  # id(distribution) -> (name, version)
    for ep in metadata.entry_points().select(group=ENTRY_POINT_GROUP):
        if ep.dist is not None and id(ep.dist) not in known:
            meta = ep.dist.metadata
            known[id(ep.dist)] = (meta["Name"], meta["Version"])
        dist, version = known[id(ep.dist)] if ep.dist is not None else ("unknown", "unknown")
        found.setdefault((ep.name, ep.value, dist), PluginEntry(ep.name, ep.value, dist, version))
    return tuple(sorted(found.values(), key=lambda e: (_rank(e.distribution), e.name)))


def _entry_point_providers() -> dict[str, PluginInfo]:
    """Top-level package of each `plait.plugins` entry point -> the distribution that declares it."""
    providers: dict[str, PluginInfo] = {}
    for ep in plugin_entry_points():
        if ep.distribution != "unknown":
            providers.setdefault(ep.value.split(".")[0].split(":")[0], PluginInfo(ep.distribution, ep.version, ""))
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
