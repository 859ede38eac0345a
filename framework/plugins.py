"""Plugin discovery through the `plait.plugins` entry-point group.

The built-ins in `plugins/` arrive the same way as third-party packages: each entry point names a
module that registers its components when imported. Loading is ordered and all-or-nothing:

- the built-ins (distribution `plait`) load first, then third-party distributions in name order;
- a key that is already taken is never taken over: the newcomer is registered under a provider-qualified
  key (`model=plait_textcnn.lstm`) with one warning naming both providers (see `framework.registry`);
- a plugin that fails at any point (import error, incompatible `PLAIT_API`) leaves nothing behind:
  its registrations and ConfigStore nodes are rolled back, and one warning names its distribution;
- `PLAIT_DISABLE_PLUGINS=a,b` skips entry points or whole distributions by name;
- a plugin package may ship presets as YAML files under `conf/<group>/` inside its import package
  (`conf/model/textcnn_big.yaml`, `conf/experiment/*.yaml`); they become options of that group.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from framework.errors import PlaitError
from framework.kinds import REGISTRIES
from framework.providers import (
    BUILTIN_DISTRIBUTION,
    BrokenPlugin,
    Clash,
    DisabledPlugin,
    _loading,
    distribution_id,
    plugin_entry_points,
    providing,
    qualified_key,
    record_clash,
    store_node,
)
from framework.registry import Registry, store_component_schemas

#: The plugin API major this Plait implements. A plugin declares the one it targets as a module attribute
#: `PLAIT_API = 1` in its entry-point module; a different major is skipped with one warning.
PLAIT_API = 1
PRESET_DIR = "conf"  # presets live in `<plugin package>/conf/<group>/<name>.yaml`

_loaded: set[str] = set()
_conf_dirs: dict[str, tuple[Path, str]] = {}  # entry point -> (its conf/ directory, distribution)


class PluginImportWarning(UserWarning):
    """Warned once for each plugin entry point that failed to import or targets another plugin API."""


class IncompatiblePluginError(PlaitError):
    """A plugin declares a PLAIT_API major this Plait does not implement."""


def _normalise(name: str) -> str:
    return distribution_id(name.strip())


def blocked_plugins() -> set[str]:
    """Entry-point or distribution names the user disabled through PLAIT_DISABLE_PLUGINS (comma separated),
    normalised (`plait-broken` and `plait_broken` are the same name)."""
    return {_normalise(p) for p in os.environ.get("PLAIT_DISABLE_PLUGINS", "").split(",") if p.strip()}


def check_api(module: ModuleType, distribution: str) -> None:
    """Raise IncompatiblePluginError when `module.PLAIT_API` names another major than this Plait's."""
    target = getattr(module, "PLAIT_API", None)
    if target is None:
        return  # undeclared: assumed compatible (declaring it is recommended, see docs/plugins.md)
    try:
        major = int(str(target).split(".")[0])
    except ValueError:
        raise IncompatiblePluginError(f"PLAIT_API = {target!r} is not a major version number") from None
    if major != PLAIT_API:
        raise IncompatiblePluginError(
            f"it targets plait plugin API {major}, this plait implements {PLAIT_API}: "
            f"install a {distribution} release for plugin API {PLAIT_API}"
        )


def conf_dir() -> Path:
    """The shipped `conf/` directory: inside the installed package, or at the source checkout root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise PlaitError(f"cannot find conf/train.yaml next to {here}; reinstall plait")


def load_plugins() -> list[BrokenPlugin]:
    """Import every `plait.plugins` entry point once (all-or-nothing each) and put every component's schema in
    Hydra's ConfigStore, ready to compose; return the plugins that failed."""
    broken = discover_plugins()
    store_component_schemas()
    store_preset_nodes()
    return broken


def discover_plugins() -> list[BrokenPlugin]:
    """Import every `plait.plugins` entry point once (all-or-nothing each), leaving declared schemas unimported:
    enough to list and describe components. Return the ones that failed."""
    blocked = blocked_plugins()
    for ep in plugin_entry_points():
        key = f"{ep.name}={ep.value}"
        if key in _loaded:
            continue
        _loaded.add(key)
        dist, version = ep.distribution, ep.version
        if _normalise(ep.name) in blocked or _normalise(dist) in blocked:
            Registry.disabled.append(DisabledPlugin(ep.name, dist))
            continue
        try:
            with providing(dist, version):
                module = importlib.import_module(ep.value.split(":")[0])
                check_api(module, dist)
                conf = preset_dir(module)
                if conf is not None and dist != BUILTIN_DISTRIBUTION:
                    store_presets(conf, dist)
                    _conf_dirs[ep.name] = (conf, dist)
        except Exception as exc:  # a broken third-party plugin must not take the framework down
            error = f"{type(exc).__name__}: {exc}"
            Registry.broken.append(BrokenPlugin(ep.name, dist, error))
            warnings.warn(
                f"plait plugin '{ep.name}' from distribution '{dist}' failed to load and is skipped "
                f"(nothing it registered is kept): {error}",
                PluginImportWarning,
                stacklevel=2,
            )
    return list(Registry.broken)


def preset_dir(module: ModuleType) -> Path | None:
    """The `conf/` directory shipped inside a plugin's import package, if it has one."""
    locations = getattr(module, "__path__", None)
    for location in locations or []:
        candidate = Path(location) / PRESET_DIR
        if candidate.is_dir():
            return candidate
    return None


def plugin_search_paths() -> list[Path]:
    """The `conf/` directories of the loaded third-party plugins (their presets are already config options)."""
    load_plugins()
    return [conf for conf, _ in _conf_dirs.values()]


def _package_header(text: str) -> str | None:
    """The `# @package <name>` directive on a YAML preset's first lines, as Hydra reads it."""
    for line in text.splitlines()[:5]:
        if line.startswith("# @package"):
            return line.removeprefix("# @package").strip()
    return None


def _builtin_presets(group: str) -> set[str]:
    from framework.plugins import conf_dir

    try:
        return {p.stem for p in (conf_dir() / group).glob("*.yaml")}
    except PlaitError:
        return set()


def store_presets(conf: Path, distribution: str) -> list[tuple[str, str, Path]]:
    """Make each `conf/<group>/<name>.yaml` an option `<group>=<name>` (provider-qualified when taken). Recorded
    here; its ConfigStore node is stored by `store_preset_nodes` (at once when schemas are already stored)."""
    import yaml  # type: ignore[import-untyped]  # parsed now: a broken file fails its plugin (OmegaConf stores it later)

    stored = []
    for path in sorted(conf.glob("*/*.yaml")):
        yaml.safe_load(path.read_text(encoding="utf-8"))
        group, name = path.parent.name, path.stem
        registered = group in REGISTRIES and name in REGISTRIES[group]
        taken = registered or (group, name) in PRESETS or name in _builtin_presets(group)
        if taken:
            owner = PRESETS.get((group, name), (BUILTIN_DISTRIBUTION, path))[0]
            record_clash(Clash(group, name, owner, distribution, qualified_key(distribution, name)))
            name = qualified_key(distribution, name)
        PRESETS[(group, name)] = (distribution, path)
        _unstored_presets.append((group, name))
        stored.append((group, name, path))
        if _loading:  # a plugin failing later leaves none of its presets behind
            _loading[-1].undo.append(functools.partial(_forget_preset, group, name))
    if Registry.schemas_stored:
        store_preset_nodes()
    return stored


def store_preset_nodes() -> None:
    """Put the recorded plugin presets into Hydra's ConfigStore (before anything composes)."""
    from omegaconf import OmegaConf

    while _unstored_presets:
        group, name = _unstored_presets.pop(0)
        distribution, path = PRESETS[(group, name)]
        text = path.read_text(encoding="utf-8")
        node = OmegaConf.create(text) if text.strip() else OmegaConf.create({})
        multi = group in REGISTRIES and REGISTRIES[group].multi
        package = _package_header(text) or (REGISTRIES[group].package(name) if multi else None)
        store_node(group, name, node, package=package, provider=distribution)


_unstored_presets: list[tuple[str, str]] = []  # plugin presets recorded but not yet in the ConfigStore


def _forget_preset(group: str, name: str) -> None:
    PRESETS.pop((group, name), None)
    if (group, name) in _unstored_presets:
        _unstored_presets.remove((group, name))


PRESETS: dict[tuple[str, str], tuple[str, Path]] = {}  # (group, option) -> (distribution, YAML file) of plugin presets


def preset_source(group: str, name: str) -> tuple[str, Path] | None:
    """(distribution, file) of a preset option: one shipped by a plugin, or one in Plait's own conf/."""
    discover_plugins()
    if (group, name) in PRESETS:
        return PRESETS[(group, name)]
    from framework.plugins import conf_dir

    try:
        path = conf_dir() / group / f"{name}.yaml"
    except PlaitError:
        return None
    return (BUILTIN_DISTRIBUTION, path) if path.is_file() else None


def presets() -> dict[tuple[str, str], tuple[str, Path]]:
    """Every preset option: Plait's conf/ presets and those shipped by plugins, (group, name) -> (dist, file)."""
    discover_plugins()
    from framework.plugins import conf_dir

    found: dict[tuple[str, str], tuple[str, Path]] = {}
    try:
        for path in sorted(conf_dir().glob("*/*.yaml")):
            found[(path.parent.name, path.stem)] = (BUILTIN_DISTRIBUTION, path)
    except PlaitError:
        pass
    found.update(PRESETS)
    return found


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed (read once per process)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class ProviderVersionWarning(UserWarning):
    """A run is reopened with other versions of the plugins it was trained with."""


def check_recorded_providers(recorded: dict[str, str], *, context: str) -> None:
    """Check a checkpoint's `plugins` map (`kind/key -> dist==version`) against what is installed now.

    A component whose key is not registered raises PlaitError naming the distribution and the install
    line (or why the installed one does not provide it); other installed versions give one warning.
    `context` says what is being done ("reopening outputs/run1") and starts each message.
    """
    load_plugins()
    changed: list[str] = []
    for component, provider in sorted(recorded.items()):
        if "/" not in component:
            continue  # the "plait" entry: the framework's own version
        kind, key = component.split("/", 1)
        if kind not in REGISTRIES:
            continue
        registry = REGISTRIES[kind]
        dist, _, version = provider.partition("==")
        if key in registry:
            info = registry.source(key)
            if info.distribution != dist:
                changed.append(f"{kind} '{key}' came from {provider}, now from {info.distribution}=={info.version}")
            elif version and info.version != version:
                changed.append(f"{kind} '{key}' came from {provider}, {info.version} is installed")
            continue
        raise PlaitError(f"{context}: {_missing_reason(kind, key, dist, version, provider)}")
    if changed:
        warnings.warn(
            f"{context} with other plugin versions than it was trained with: {'; '.join(changed)}. "
            "Results may differ; install the recorded versions to reproduce them exactly.",
            ProviderVersionWarning,
            stacklevel=2,
        )


def _missing_reason(kind: str, key: str, dist: str, version: str, provider: str) -> str:
    install = f"pip install {provider}" if version and version != "unknown" else f"pip install {dist}"
    start = f"{kind} '{key}' came from {provider}, which"
    if any(_normalise(d.distribution) == _normalise(dist) for d in Registry.disabled):
        return f"{start} is disabled by PLAIT_DISABLE_PLUGINS: remove {dist} from it"
    for broken in Registry.broken:
        if _normalise(broken.distribution) == _normalise(dist):
            return f"{start} failed to load: {broken.error}"
    installed = installed_version(dist)
    if installed is None:
        return f"{start} is not installed: {install}"
    return f"{start} is installed as {dist}=={installed}, which does not provide it: {install}"


def plugin_report() -> dict[str, Any]:
    """Everything `plait doctor` shows about plugins: entry points with versions, failures, disabled, clashes."""
    load_plugins()
    entries = []
    for ep in plugin_entry_points():
        entries.append(
            {"entry_point": ep.name, "module": ep.value, "distribution": ep.distribution, "version": ep.version}
        )
    return {
        "api": PLAIT_API,
        "entry_points": entries,
        "broken": list(Registry.broken),
        "disabled": list(Registry.disabled),
        "clashes": list(Registry.clashes),
    }


__all__ = [
    "PLAIT_API",
    "IncompatiblePluginError",
    "PluginImportWarning",
    "ProviderVersionWarning",
    "blocked_plugins",
    "check_recorded_providers",
    "discover_plugins",
    "load_plugins",
    "plugin_report",
    "plugin_search_paths",
    "preset_source",
    "presets",
]
