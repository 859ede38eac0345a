"""Start-up without torch: listing, describing and every `--help` read the plugins' declarations, and only a run
imports a component's module. Also `Registry.declare` itself: lazy entries, ConfigStore nodes, clashes, rollback."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, is_dataclass
from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore

from framework.errors import PlaitError
from framework.kinds import REGISTRIES
from framework.plugins import load_plugins
from framework.providers import providing
from framework.registry import Registry, store_component_schemas
from framework.schema import ComponentConfig

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "numpy", "transformers")


def imported_after(argv: list[str]) -> dict[str, object]:
    """Run `plait <argv>` in a fresh interpreter; return which heavy modules it imported and its exit code."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from framework.cli import main
        code = 0
        try:
            main({argv!r})
        except SystemExit as exc:
            code = exc.code or 0
        print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "code": code}}), file=sys.stderr)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    return dict(json.loads(out.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [["list"], ["describe", "model/transformer_encoder"], ["--help"], ["train", "--help"]],
    ids=["list", "describe", "help", "train-help"],
)
def test_listing_describing_and_help_import_no_torch(argv: list[str]) -> None:
    result = imported_after(argv)
    assert result == {"heavy": [], "code": 0}, f"plait {' '.join(argv)}: {result}"


def test_every_declared_schema_imports_without_torch() -> None:
    """Each built-in's config module is torch-free: `plait train --help` and `describe` import them all."""
    code = textwrap.dedent(
        """
        import sys
        from framework.kinds import REGISTRIES
        from framework.plugins import load_plugins
        load_plugins()  # stores every schema in Hydra's ConfigStore: imports every config module
        for registry in REGISTRIES.values():
            for name in registry.names():
                registry.config_class(name)
        print([m for m in ("torch", "numpy", "transformers") if m in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_declared_components_resolve_and_their_source_docstring_is_the_factory_docstring() -> None:
    load_plugins()
    builtins = 0
    for registry in REGISTRIES.values():
        for name in registry.names():
            if registry.source(name).distribution != "plait":
                continue
            builtins += 1
            description = registry.description(name)  # read from compiled code, not imported
            factory = registry.factory(name)  # imported now
            assert callable(factory) and description, f"{registry.kind} '{name}'"
            assert description == inspect.getdoc(factory), f"{registry.kind} '{name}'"
            assert is_dataclass(registry.config_class(name))
    assert builtins >= 45


@dataclass
class GadgetConfig(ComponentConfig):
    """Options of a test gadget."""

    size: int = 2  # how big


def build_gadget(cfg: GadgetConfig) -> tuple[str, int]:
    """A gadget, built by reference."""
    return "gadget", cfg.size


GADGET_MODULE = '''
from dataclasses import dataclass

from framework import ComponentConfig


@dataclass
class GadgetConfig(ComponentConfig):
    size: int = 2  # how big


def build_gadget(cfg: GadgetConfig) -> tuple[str, int]:
    """A gadget, built by reference.

    Its second line.
    """
    return "gadget", cfg.size
'''


def test_declare_imports_nothing_until_built_and_stores_the_schema_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gadget_plugin.py").write_text(GADGET_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(Registry, "schemas_stored", False)  # as in a fresh `plait list`: nothing stored yet
    registry: Registry[tuple[str, int]] = Registry("gadget_test")
    registry.declare("gadget", config="gadget_plugin:GadgetConfig", factory="gadget_plugin:build_gadget")
    assert registry.description("gadget") == "A gadget, built by reference.\n\nIts second line."
    assert "gadget_plugin" not in sys.modules  # read from its compiled code, not imported
    assert "gadget.yaml" not in ConfigStore.instance().repo.get("gadget_test", {})
    store_component_schemas()
    assert "gadget_plugin" in sys.modules  # the schema is imported to be stored
    node = ConfigStore.instance().repo["gadget_test"]["gadget.yaml"].node
    assert node["_name_"] == "gadget" and node["size"] == 2
    assert registry.build({"_name_": "gadget", "size": 5}) == ("gadget", 5)
    registry.declare("later", config="gadget_plugin:GadgetConfig", factory="gadget_plugin:build_gadget")
    assert "later.yaml" in ConfigStore.instance().repo["gadget_test"]  # schemas stored: at once


def test_declare_rejects_malformed_references_and_names_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Registry, "schemas_stored", False)  # else a declaration is resolved (and fails) at once
    registry: Registry[object] = Registry("gadget_test2")
    with pytest.raises(TypeError, match="'module:attr' reference"):
        registry.declare("bad", config="no_colon_here", factory=f"{__name__}:build_gadget")
    registry.declare("gone", config=f"{__name__}:NoSuchConfig", factory=f"{__name__}:build_gadget")
    with pytest.raises(PlaitError, match="NoSuchConfig.*fix the plugin's declaration"):
        registry.config_class("gone")


def test_a_declared_key_clashes_and_rolls_back_like_a_registered_one() -> None:
    registry: Registry[object] = Registry("gadget_test3")
    ref = {"config": f"{__name__}:GadgetConfig", "factory": f"{__name__}:build_gadget"}
    with providing("plait", "1"):
        registry.declare("gadget", **ref)
    with pytest.warns(UserWarning, match="registered by both plait and plait-zzz"), providing("plait-zzz", "1"):

        @registry.register("gadget", config=GadgetConfig)  # the old style, from another distribution: moved aside
        def other_gadget(cfg: GadgetConfig) -> tuple[str, int]:
            """Another gadget."""
            return "other", cfg.size

    assert registry.names() == ["gadget", "plait_zzz.gadget"]
    assert registry.build({"_name_": "gadget"}) == ("gadget", 2)
    assert registry.build({"_name_": "plait_zzz.gadget"}) == ("other", 2)
    with pytest.raises(RuntimeError), providing("plait-broken", "1"):
        registry.declare("broken_gadget", **ref)
        raise RuntimeError("the plugin fails half-way")
    assert "broken_gadget" not in registry and "broken_gadget" not in registry._unstored


OLD_STYLE = '''
from dataclasses import dataclass

from framework import MODELS, ComponentConfig


@dataclass
class DecoratedConfig(ComponentConfig):
    width: int = 3  # how wide


@MODELS.register("decorated_model", config=DecoratedConfig)
def build_decorated(cfg, *, spec):
    """Registered the old way, by decorator."""
    return None
'''
DECLARED = """
from framework import MODELS

MODELS.declare("declared_model", config="plait_declared.parts:DeclaredConfig", factory="plait_declared.parts:build")
"""
DECLARED_PARTS = '''
from dataclasses import dataclass

from framework import ComponentConfig


@dataclass
class DeclaredConfig(ComponentConfig):
    depth: int = 4  # how deep


def build(cfg, *, spec):
    """Declared by reference."""
    return None
'''


def test_old_style_and_declared_third_party_plugins_are_both_listed_and_described(tmp_path: Path) -> None:
    from test_plugins import make_distribution  # tests/framework is on sys.path (pytest rootdir)

    make_distribution(tmp_path, "plait-decorated", "1.0", {"plait_decorated.py": OLD_STYLE})
    parts = {"plait_declared/__init__.py": DECLARED, "plait_declared/parts.py": DECLARED_PARTS}
    make_distribution(tmp_path, "plait-declared", "2.0", parts)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "200"}
    plait = [sys.executable, "-m", "framework.cli"]
    listed = subprocess.run([*plait, "list", "model"], env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    rows = {line.split("│")[2].strip(): line for line in listed.stdout.splitlines() if line.count("│") >= 4}
    assert "plait-decorated 1.0" in rows["decorated_model"] and "by decorator" in rows["decorated_model"]
    assert "plait-declared 2.0" in rows["declared_model"] and "Declared by reference" in rows["declared_model"]
    described = subprocess.run(
        [*plait, "describe", "model/declared_model"], env=env, capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "model.depth" in described.stdout and "how deep" in described.stdout
