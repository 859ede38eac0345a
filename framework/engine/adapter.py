"""`adapter=lora`: the build step that freezes a model's base weights and adds low-rank adapters (Hugging Face
`peft`: `LoraConfig`, `get_peft_model`) to its linear layers by name, for the hf_* models and Plait's own alike.

Order, inside `framework.engine.build.build_model`: the model is built (an hf_* model reads `model.pretrained`),
the base weights of `adapter.base` are loaded into it, the adapters are added (the model object stays the same,
its linear layers wrapped in place), then the precision strategy casts it. The model's `state_dict` then holds
the adapter weights only, so checkpoints (and EMA copies, and master weights) are the adapter alone;
`load_state_dict` of such a state leaves the frozen base as the build made it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from framework.engine import distributed
from framework.engine.adapter_config import (
    GROUP,
    LORA,
    NONE,
    LoraAdapterConfig,
    adapter_name,
    adapter_node,
    check_base_given,
)
from framework.engine.checkpoint import Loaded, load_latest
from framework.errors import PlaitError

PEFT_WRAPPER = "_plait_peft"  # the PeftModel around a model with adapters, kept outside its submodules
NARROWING = "_plait_adapter_hooks"  # the handles of the state_dict hooks that narrow it to the adapters
WEIGHTLESS = ("dropout", "activation_checkpointing")  # model keys a run may change from its base's: no weights
INSTALL = "pip install 'plait[peft]'"
CHECKED_WITH_BASE = ("model", "tokenizer")  # what a run adapting a Plait base must share with the base run


def require_peft() -> Any:
    """The `peft` module; missing, an error naming the extra that installs it."""
    try:
        import peft
    except ImportError as exc:
        raise PlaitError(f"adapter=lora needs Hugging Face peft ({exc}): {INSTALL}") from None
    return peft


def lora_options(cfg: DictConfig) -> LoraAdapterConfig | None:
    """The run's LoRA options as their dataclass, or None for `adapter=none`."""
    if adapter_name(cfg) == NONE:
        return None
    merged = OmegaConf.merge(OmegaConf.structured(LoraAdapterConfig), adapter_node(cfg))
    options = OmegaConf.to_object(merged)
    assert isinstance(options, LoraAdapterConfig)
    return options


def linear_layers(model: nn.Module) -> list[str]:
    """Names of the model's linear layers (torch's Linear, and transformers' Conv1D that GPT-2 uses), in order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"]


def layer_patterns(names: list[str]) -> list[str]:
    """`names` with block numbers folded (`decoder.blocks.*.attn.qkv`), each once: what an error lists."""
    return list(dict.fromkeys(re.sub(r"(?<=\.)\d+(?=\.)", "*", n) for n in names))


def matches(name: str, target: str) -> bool:
    """peft's rule for a target given by name: the layer's name is the target or ends with `.<target>`."""
    return name == target or name.endswith("." + target)


def chosen_layers(model: nn.Module, targets: list[str] | None) -> list[str]:
    """The linear layers the adapters go on: those `targets` name (each must name one), or with null every linear
    layer but the last (the output layer: it stays frozen)."""
    linear = linear_layers(model)
    if targets is None:
        if len(linear) < 2:
            raise PlaitError(
                f"adapter=lora: the model has {len(linear)} linear layer(s), so none is left for adapters once the "
                "output layer is kept frozen; name them in adapter.target_modules=[...]"
            )
        return linear[:-1]
    known = ", ".join(layer_patterns(linear)) or "(none)"
    for target in targets:
        if not any(matches(name, target) for name in linear):
            raise PlaitError(
                f"adapter.target_modules: '{target}' matches none of the model's linear layers ({known}); a target "
                "matches a layer whose name is the target or ends with '.<target>', e.g. the last part of one"
            )
    return [name for name in linear if any(matches(name, target) for target in targets)]


def base_checkpoint(path: str) -> Loaded:
    """The checkpoint `adapter.base` names (a run directory opens its newest), refused if it holds no full model."""
    loaded = load_latest(Path(path).expanduser())
    if loaded is None:
        raise PlaitError(f"adapter.base={path}: no complete checkpoint there; give a Plait run directory or checkpoint")
    if adapter_name(OmegaConf.create(loaded.state["config"])) != NONE:
        raise PlaitError(
            f"adapter.base={path} holds adapter weights only (it was trained with adapter=lora); export it merged "
            f"(`plait export {path} <out> --merge`) and give <out> as adapter.base"
        )
    return loaded


def resolve_base(cfg: DictConfig) -> Path | None:
    """Training with `adapter.base`: pin it to the checkpoint directory it opens (recorded in the run's config, so
    reopening the run finds the same base), check that the run shares the base run's model and tokenizer, and
    return that checkpoint (its tokenizers are the run's); None without a base."""
    options = lora_options(cfg)
    if options is None or not options.base:
        return None
    loaded = base_checkpoint(options.base)
    saved = OmegaConf.create(loaded.state["config"])
    differ = [
        f"{group}.{key}: base {saved_value!r}, this run {new_value!r}"
        for group in CHECKED_WITH_BASE
        for key, (saved_value, new_value) in _differences(saved.get(group), cfg.get(group)).items()
        if not (group == "model" and key.endswith(WEIGHTLESS))
    ]
    if differ:
        raise PlaitError(
            f"adapter.base={options.base}: the model and tokenizer must be the base run's ({loaded.path}); they "
            f"differ in {'; '.join(differ)}. Use the base run's values (see its config.yaml)"
        )
    cfg[GROUP].base = str(loaded.path.resolve())
    return loaded.path


def _differences(saved: Any, new: Any) -> dict[str, tuple[Any, Any]]:
    """Leaf keys whose values differ between two config nodes (`init`-time fields such as pretrained included)."""
    flat_saved = _flatten(OmegaConf.to_container(saved, resolve=True) if saved is not None else {})
    flat_new = _flatten(OmegaConf.to_container(new, resolve=True) if new is not None else {})
    return {
        k: (flat_saved.get(k), flat_new.get(k))
        for k in sorted(set(flat_saved) | set(flat_new))
        if flat_saved.get(k) != flat_new.get(k)
    }


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def load_base(model: nn.Module, options: LoraAdapterConfig) -> None:
    """Put `adapter.base`'s model weights into `model` before adapters are added (an hf_* model's
    `model.pretrained` was read by its build already)."""
    if not options.base:
        return
    state = base_checkpoint(options.base).state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise PlaitError(
            f"adapter.base={options.base}: its weights do not fit this model ({str(exc).splitlines()[0]}); "
            "build the same model as the base run"
        ) from None


def seed_base(cfg: DictConfig) -> None:
    """`adapter=lora`: seed torch from `trainer.seed` just before the model is built, so base weights that no file
    gives (embedding rows added for new tokens) are the same in training, on resume and when reopened."""
    if adapter_name(cfg) != NONE:
        torch.manual_seed(cfg.trainer.seed)


def attach_adapter(cfg: DictConfig, model: nn.Module) -> nn.Module:
    """`adapter=lora`: `model` with its base loaded and frozen and LoRA adapters on the chosen linear layers, its
    state_dict narrowed to the adapters; `adapter=none`: `model` unchanged."""
    options = lora_options(cfg)
    if options is None:
        return model
    peft = require_peft()
    layers = chosen_layers(model, options.target_modules)  # a target naming no layer fails before any file is read
    check_base_given(cfg)
    load_base(model, options)
    modules = dict(model.named_modules())
    transposed = all(type(modules[name]).__name__ == "Conv1D" for name in layers)  # GPT-2's (in, out) weights
    config = peft.LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=layers,
        bias="none",
        fan_in_fan_out=transposed,
    )
    wrapper = peft.get_peft_model(model, config)
    model = wrapper.get_base_model()  # the same object, its chosen layers wrapped in place
    model.__dict__[PEFT_WRAPPER] = wrapper  # not a submodule: state_dict and .to() never see it twice
    narrow_state_dict(model)
    if distributed.is_main():
        trained, total = adapter_counts(model)
        print(
            f"adapter: {LORA} rank {options.rank} on {len(layers)} linear layers; "
            f"{trained:,} of {total:,} parameters train ({100 * trained / max(total, 1):.2f}%)",
            file=sys.stderr,
        )
    return model


def frozen_in_autocast_dtype(model: nn.Module, precision: Any) -> None:
    """Under autocast (amp_bf16, amp_fp16): the frozen base weights of the adapted layers stored in the autocast
    dtype. Autocast rounds them to it at every matmul anyway, so the numbers are the same and the base takes half
    the memory; layers the precision policy keeps in fp32, and weights shared with another module (an output
    layer tied to the embedding), stay as they are."""
    dtype = getattr(precision, "autocast_dtype", None)
    if dtype is None or not has_adapter(model):
        return
    kept = tuple(getattr(precision, "kept_fp32", ()))
    owners: dict[int, int] = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    for name, module in model.named_modules():
        base = getattr(module, "base_layer", None)
        if base is None or not hasattr(module, "lora_A"):
            continue
        plain = type(base) is nn.Linear or type(base).__name__ == "Conv1D"  # not fp8's converted layers
        if not plain or any(name == k or name.startswith(k + ".") or k.startswith(name + ".") for k in kept):
            continue
        for p in base.parameters(recurse=False):
            if not p.requires_grad and owners[id(p)] == 1 and p.is_floating_point():
                p.data = p.data.to(dtype)


def adapter_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters) of `model`, shared ones counted once."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def adapter_keys(model: nn.Module) -> set[str]:
    """The state_dict names of the weights that train (the adapters)."""
    return {name for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}


def narrow_state_dict(model: nn.Module) -> None:
    """Make `model.state_dict()` hold its adapter weights only and `load_state_dict` accept such a state (the
    frozen base is not missing: the build made it). Copies of the model (master weights, EMA) inherit both."""
    keep = adapter_keys(model)

    def adapters_only(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
        for key in [k for k in state if k.startswith(prefix) and k[len(prefix) :] not in keep]:
            del state[key]

    def base_not_missing(module: nn.Module, incompatible: Any) -> None:
        incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if k in keep]

    handles = [
        model.register_state_dict_post_hook(adapters_only),
        model.register_load_state_dict_post_hook(base_not_missing),
    ]
    model.__dict__[NARROWING] = handles


def has_adapter(model: nn.Module) -> bool:
    """True for a model `attach_adapter` gave adapters."""
    return PEFT_WRAPPER in distributed.unwrap(model).__dict__


def peft_wrapper(model: nn.Module) -> Any:
    """The PeftModel around a model with adapters (for merging)."""
    return distributed.unwrap(model).__dict__[PEFT_WRAPPER]
