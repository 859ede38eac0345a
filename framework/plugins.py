"""Plugin discovery through the `plait.plugins` entry-point group.

The built-ins in `plugins/` arrive the same way as third-party packages: each entry point names a
module that registers its components when imported. A plugin that fails to import produces one
warning naming its distribution; everything else keeps working.
"""

from __future__ import annotations

import importlib
import os
import warnings
from importlib import metadata

from framework.registry import BrokenPlugin, Registry, providing

ENTRY_POINT_GROUP = "plait.plugins"
_loaded: set[str] = set()


class PluginImportWarning(UserWarning):
    """Warned once for each plugin entry point that failed to import."""


def blocked_plugins() -> set[str]:
    """Entry-point names the user disabled through PLAIT_DISABLE_PLUGINS (comma separated)."""
    return {p.strip() for p in os.environ.get("PLAIT_DISABLE_PLUGINS", "").split(",") if p.strip()}


def load_plugins() -> list[BrokenPlugin]:
    """Import every `plait.plugins` entry point once; return the ones that failed."""
    blocked = blocked_plugins()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.value):
        key = f"{ep.name}={ep.value}"
        if key in _loaded or ep.name in blocked:
            continue
        _loaded.add(key)
        dist = ep.dist.name if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "unknown"
        try:
            with providing(dist, version):
                importlib.import_module(ep.value.split(":")[0])
        except Exception as exc:  # a broken third-party plugin must not take the framework down
            error = f"{type(exc).__name__}: {exc}"
            Registry.broken.append(BrokenPlugin(ep.name, dist, error))
            warnings.warn(
                f"plait plugin '{ep.name}' from distribution '{dist}' failed to import and is skipped: {error}",
                PluginImportWarning,
                stacklevel=2,
            )
    return list(Registry.broken)
