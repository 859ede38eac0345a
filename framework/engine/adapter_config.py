"""The `adapter` config group: `adapter=none` (train every weight, the default) or `adapter=lora` (low-rank
adapters through Hugging Face `peft`; only they train, and checkpoints hold only them).

The schemas live here, beside nothing else, so that the config module and validation can read them without
importing torch or peft; what the options do is `framework.engine.adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from framework.errors import ConfigValueError
from framework.schema import NAME_FIELD, above, at_least, between

GROUP = "adapter"
NONE = "none"
LORA = "lora"


@dataclass
class NoAdapterConfig:
    """`adapter=none`: fine-tuning trains every weight of the model (the default)."""

    _name_: str = NONE

    def validate(self) -> None:
        """Nothing to check."""


@dataclass
class LoraAdapterConfig:
    """`adapter=lora`: low-rank adapters on the model's linear layers (peft's LoraConfig); the base stays frozen.

    The base weights come from `base` (a Plait run directory or checkpoint, for any model), else, for the
    hf_* models, from `model.pretrained`; a LoRA run without either is refused.
    """

    _name_: str = LORA
    base: Optional[str] = None  # a Plait run dir or checkpoint whose model weights are the frozen base; null: none
    rank: int = 8  # r: the inner width of each adapter (its update is B @ A with A: r x d_in, B: d_out x r)
    alpha: float = 16.0  # the update is scaled by alpha / rank
    dropout: float = 0.0  # dropout on the adapter's input while training
    # a layer matches a target that is its name or ends it after a dot (`qkv`: every block's attn.qkv)
    target_modules: Optional[list[str]] = None  # linear layers by name; null: all but the last (the output layer)

    def validate(self) -> None:
        """rank >= 1, alpha > 0, dropout in [0, 1), target names not empty."""
        at_least(self, 1, "rank")
        above(self, 0, "alpha")
        between(self, "dropout", 0, 1, high_open=True)
        if self.target_modules is not None:
            if not self.target_modules:
                raise ConfigValueError("target_modules", "=[] names no layer; name some, or null for every one")
            for name in self.target_modules:
                if not str(name).strip():
                    raise ConfigValueError("target_modules", f"={self.target_modules} holds an empty name")


SCHEMAS: dict[str, type] = {NONE: NoAdapterConfig, LORA: LoraAdapterConfig}


def adapter_node(cfg: Any) -> Any:
    """The run config's `adapter` node; a config without one (saved by an older Plait) means `adapter=none`."""
    from omegaconf import OmegaConf

    if GROUP not in cfg or OmegaConf.is_missing(cfg, GROUP) or cfg[GROUP] is None:
        return OmegaConf.structured(NoAdapterConfig)
    return cfg[GROUP]


def adapter_name(cfg: Any) -> str:
    """`none` or `lora`: which adapter the run config selects."""
    return str(adapter_node(cfg).get(NAME_FIELD, NONE))


def adapter_schema(name: str) -> type:
    """The dataclass of adapter option `name`; an unknown one lists the options."""
    if name not in SCHEMAS:
        raise ConfigValueError(
            f"{GROUP}.{NAME_FIELD}", f"={name!r} is unknown; use adapter={' or adapter='.join(SCHEMAS)}"
        )
    return SCHEMAS[name]


def check_base_given(cfg: Any) -> None:
    """`adapter=lora` adapts pretrained weights: `adapter.base`, or an hf_* model's `model.pretrained`, must give
    them (checked before any work, and again when the model is built)."""
    from framework.errors import PlaitError

    node, model = adapter_node(cfg), cfg.get("model")
    if str(node.get(NAME_FIELD)) == NONE or node.get("base") or model is None or model.get("pretrained"):
        return
    raise PlaitError(
        f"adapter=lora adapts pretrained weights, but model={model.get(NAME_FIELD)} starts from random ones: set "
        "adapter.base=<a Plait run dir or checkpoint> (any model), or model.pretrained=<a local save_pretrained "
        "dir> (hf_* models)"
    )


def store_adapter_schemas() -> None:
    """Put the `adapter` group's options into Hydra's ConfigStore (`adapter=none`, `adapter=lora`)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        cs.store(group=GROUP, name=name, node=schema, provider="plait")


def default_adapter() -> dict[str, Any]:
    """The `adapter` node a config gets when it names none (train every weight)."""
    return {NAME_FIELD: NONE}
