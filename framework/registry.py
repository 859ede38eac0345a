"""The registry: one per component kind, mapping a config key to a factory and its dataclass schema.

Two ways to register, both through a plugin's entry-point module:

- `MODELS.declare("lstm", config="pkg.configs:LSTMConfig", factory="pkg.rnn:build_lstm")` names the factory and
  the schema as `module:attr` references. Nothing is imported until a run builds the component (or `describe`
  needs its schema), so `plait list` and every `--help` read the declarations without importing torch. The
  description that `plait list` prints is the factory's docstring, read from its module's compiled code without
  running it.
- `@MODELS.register("lstm", config=LSTMConfig)` above the factory: the module that holds it is imported to
  register, so listing imports it (and whatever it imports) too. Kept for plugins written that way.

Each schema is stored in Hydra's ConfigStore under the kind's config group, so `model=<key>` on the command line
selects it and its fields are type-checked: at once for `register`, and for declarations when
`store_component_schemas()` runs (`framework.plugins.load_plugins` calls it before anything composes). The
registries of the eight kinds live in `framework.kinds`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import inspect
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, ClassVar, Generic, TypeVar, cast

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


def resolve(ref: str) -> Any:
    """Import the object that a `module:attr` reference names (`attr` may be dotted: `Class.method`)."""
    module, _, attr = ref.partition(":")
    try:
        return functools.reduce(getattr, attr.split("."), importlib.import_module(module))
    except (ImportError, AttributeError) as exc:
        raise PlaitError(f"cannot import '{ref}' ({type(exc).__name__}: {exc}): fix the plugin's declaration") from exc


def _check_ref(ref: str, what: str) -> None:
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise TypeError(f"{what} must be a 'module:attr' reference, got {ref!r}")


@functools.lru_cache(maxsize=64)
def _module_code(module: str) -> CodeType | None:
    """The compiled code of `module`, from its bytecode cache when fresh, without running it (its parent packages
    are imported to find it)."""
    spec = importlib.util.find_spec(module)
    get_code = getattr(spec.loader, "get_code", None) if spec is not None else None
    return get_code(module) if callable(get_code) else None


def source_doc(ref: str) -> str | None:
    """The docstring of the function that `module:attr` names, read from the module's compiled code without
    running it; None when it cannot be read there (then the caller imports the function)."""
    module, _, attr = ref.partition(":")
    try:
        code = _module_code(module)
    except (ImportError, SyntaxError, ValueError):  # importing the factory then names the problem
        return None
    for part in attr.split("."):
        consts = code.co_consts if code is not None else ()
        code = next((c for c in consts if isinstance(c, CodeType) and c.co_name == part), None)
    if code is None or not code.co_flags & inspect.CO_OPTIMIZED:  # a class body's const 0 is its name, not a doc
        return None
    if not code.co_consts or not isinstance(code.co_consts[0], str):
        return None
    flag = getattr(inspect, "CO_HAS_DOCSTRING", None)  # Python 3.14+: flagged; before, the docstring is const 0
    if flag is not None and not code.co_flags & flag:
        return None
    return inspect.cleandoc(code.co_consts[0])


@dataclass
class _Entry(Generic[T]):
    """One registered component: factory and schema, each the object itself or a `module:attr` reference that is
    imported on first use."""

    factory_ref: Callable[..., T] | str
    config_ref: type | str
    info: PluginInfo
    describe_ref: str | None = None  # optional `module:function` returning extra `plait describe` text
    _resolved: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def lazy(self) -> bool:
        """True for a declaration whose schema is not imported yet (its ConfigStore node waits)."""
        return isinstance(self.config_ref, str) and "config" not in self._resolved

    @property
    def ref(self) -> str:
        """`module:qualname` of the factory, the same for a declaration and for a decorated function."""
        if isinstance(self.factory_ref, str):
            return self.factory_ref
        return f"{self.factory_ref.__module__}:{self.factory_ref.__qualname__}"

    @property
    def factory(self) -> Callable[..., T]:
        """The factory, imported now if it was declared by reference."""
        if isinstance(self.factory_ref, str):
            if "factory" not in self._resolved:
                self._resolved["factory"] = resolve(self.factory_ref)
            return cast(Callable[..., T], self._resolved["factory"])
        return self.factory_ref

    @property
    def config(self) -> type:
        """The dataclass schema, imported now if it was declared by reference."""
        if not isinstance(self.config_ref, str):
            return self.config_ref
        if "config" not in self._resolved:
            config = resolve(self.config_ref)
            if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
                raise PlaitError(f"'{self.config_ref}' is not a dataclass: a component's config must be one")
            self._resolved["config"] = config
        return cast(type, self._resolved["config"])

    def doc(self) -> str:
        """The factory's docstring: from its source for a declaration (no import), else from the object."""
        if isinstance(self.factory_ref, str) and "factory" not in self._resolved:
            found = source_doc(self.factory_ref)
            if found is not None:
                return found
        return inspect.getdoc(self.factory) or ""

    def describe_here(self) -> str | None:
        """Extra text for `plait describe`: what the component does on this machine, if it says."""
        if self.describe_ref:
            here = resolve(self.describe_ref)
        else:  # a decorated factory may carry it as an attribute; a declaration names it (or has none)
            here = None if isinstance(self.factory_ref, str) else getattr(self.factory_ref, "describe_here", None)
        return here() if callable(here) else None


def _same_factory(a: _Entry[Any], b: _Entry[Any]) -> bool:
    """True when a module is imported again: the same function, re-created (or the same declaration)."""
    return a.ref == b.ref


class Registry(Generic[T]):
    """Maps keys to factories for one kind of component ("model", "precision", ...)."""

    broken: list[BrokenPlugin] = BROKEN  # shared by all kinds; filled by framework.plugins
    disabled: list[DisabledPlugin] = DISABLED  # switched off by PLAIT_DISABLE_PLUGINS; filled by framework.plugins
    clashes: list[Clash] = CLASHES  # keys two distributions registered; see `record_clash`
    instances: ClassVar[weakref.WeakSet[Registry[Any]]] = weakref.WeakSet()  # for `store_component_schemas`
    schemas_stored: ClassVar[bool] = False  # set by `store_component_schemas`: declarations store at once after it

    def __init__(self, kind: str, *, multi: bool = False) -> None:
        self.kind = kind
        self.group = kind
        self.multi = multi  # several options selected at once, each under `<kind>.<key>`
        self._entries: dict[str, _Entry[T]] = {}
        self._unstored: set[str] = set()  # declared keys whose ConfigStore node waits for store_component_schemas
        Registry.instances.add(self)

    def declare(self, name: str, *, config: str, factory: str, describe_here: str | None = None) -> None:
        """Register `name` by reference, importing nothing: `config` is the `module:Class` of its dataclass schema
        (keep it in a module that imports no torch), `factory` the `module:function` that builds it
        (`factory(cfg, **deps)`). `plait list` shows the first line of the factory's docstring, read without
        running its module. `describe_here`: optional `module:function` whose text `plait describe` adds."""
        _check_ref(config, f"{self.kind} '{name}': config")
        _check_ref(factory, f"{self.kind} '{name}': factory")
        self._add(name, _Entry(factory, config, provider_of(factory.partition(":")[0]), describe_here))

    def register(self, name: str, *, config: type) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register `factory(cfg, **deps)` under `name` with dataclass schema `config`. Listing then
        imports the factory's module; `declare` registers without importing anything."""
        if not dataclasses.is_dataclass(config):
            raise TypeError(f"{self.kind} '{name}': config must be a dataclass, got {config!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._add(name, _Entry(factory, config, provider_of(factory.__module__)))
            return factory

        return decorator

    def _add(self, name: str, entry: _Entry[T]) -> None:
        """Put a new entry under `name`; a key another distribution holds is settled by rank (see `_rank`)."""
        old = self._entries.get(name)
        if old is None or _same_factory(old, entry):
            self._put(name, entry)
            return
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

    def _put(self, name: str, entry: _Entry[T]) -> None:
        """Set one entry and its ConfigStore node (a declaration's waits until schemas are stored); undone if the
        plugin being loaded fails."""
        previous = self._entries.get(name)
        was_unstored = name in self._unstored
        self._entries[name] = entry
        if entry.lazy and not Registry.schemas_stored:
            self._unstored.add(name)
        else:
            self._unstored.discard(name)
            self._store(name, entry.config)

        def undo() -> None:
            if previous is None:
                self._entries.pop(name, None)
            else:
                self._entries[name] = previous
            (self._unstored.add if was_unstored else self._unstored.discard)(name)

        if _loading:
            _loading[-1].undo.append(undo)

    def store_schemas(self) -> None:
        """Store the ConfigStore node of every declared key not stored yet (imports their schemas)."""
        for name in sorted(self._unstored):
            if name in self._entries:
                self._store(name, self._entries[name].config)
        self._unstored.clear()

    def _store(self, name: str, config: type) -> None:
        """Store the schema as option `name` of the kind's group, its `_name_` set (ConfigStore converts it once)."""
        from hydra.core.config_store import ConfigStore

        store_node(self.group, name, config, package=self.package(name), provider=self.kind)
        ConfigStore.instance().repo[self.group][f"{name}.yaml"].node[NAME_FIELD] = name

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
        """The dataclass schema registered for `name` (imported now if it was declared by reference)."""
        return self._entry(name).config

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered for `name` (imported now if it was declared by reference)."""
        return self._entry(name).factory

    def description(self, name: str) -> str:
        """The factory's docstring (its first line is the `plait list` line), read without importing a declaration."""
        return self._entry(name).doc()

    def describe_here(self, name: str) -> str | None:
        """What `name` does on this machine, for `plait describe`, if its plugin says (may import the factory)."""
        return self._entry(name).describe_here()

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


def store_component_schemas() -> None:
    """Put every declared schema into Hydra's ConfigStore, and from now on each new declaration at once: before
    Hydra composes (`framework.plugins.load_plugins` calls this). Listing and describing never need it."""
    Registry.schemas_stored = True
    for registry in Registry.instances:
        registry.store_schemas()


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
