"""Registry behaviour: typed configs, unknown keys, duplicates, ConfigStore integration."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from framework.errors import DuplicateComponentError, PlaitError, UnknownComponentError
from framework.registry import Registry
from framework.schema import ComponentConfig


@dataclass
class WidgetConfig(ComponentConfig):
    """A test schema."""

    size: int = 3  # how big
    name: str = "w"  # what it is called


def make_registry() -> Registry:
    registry = Registry("widget_test")

    @registry.register("small", config=WidgetConfig)
    def build_small(cfg: WidgetConfig, *, scale: int = 1) -> tuple[int, str]:
        """Builds a small widget."""
        return cfg.size * scale, cfg.name

    return registry


def test_build_from_dataclass_dictconfig_and_mapping() -> None:
    registry = make_registry()
    assert registry.build(registry.config("small", size=4), scale=2) == (8, "w")
    node = ConfigStore.instance().repo["widget_test"]["small.yaml"].node
    assert node["_name_"] == "small" and node["size"] == 3
    assert registry.build(OmegaConf.merge(node, {"size": 5})) == (5, "w")
    assert registry.build({"_name_": "small", "name": "x"}) == (3, "x")


def test_stored_schema_rejects_wrong_types() -> None:
    make_registry()
    node = ConfigStore.instance().repo["widget_test"]["small.yaml"].node
    with pytest.raises(Exception, match="size"):
        OmegaConf.merge(node, OmegaConf.from_dotlist(["size=abc"]))


def test_unknown_key_lists_known_names_and_closest() -> None:
    registry = make_registry()
    with pytest.raises(UnknownComponentError) as info:
        registry.build({"_name_": "smal"})
    message = str(info.value)
    assert "Known widget_test names: small" in message
    assert "Closest match: 'small'" in message


def test_two_providers_of_one_key_is_an_error_naming_both() -> None:
    registry = make_registry()

    def other(cfg: WidgetConfig) -> None:
        """Another provider."""

    with pytest.raises(DuplicateComponentError, match="registered twice.*test_registry"):
        registry.register("small", config=WidgetConfig)(other)


def test_config_without_name_is_explained() -> None:
    registry = make_registry()
    with pytest.raises(PlaitError, match="no '_name_' key"):
        registry.build({"size": 1})


def test_non_dataclass_config_is_rejected() -> None:
    with pytest.raises(TypeError, match="must be a dataclass"):
        Registry("x").register("k", config=dict)
