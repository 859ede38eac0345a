"""`plait export <run> <out> merge=true` (or `--merge`): a run trained with `adapter=lora` as one plain model, its
adapters added into the base weights (peft's `merge_and_unload`), so nothing downstream needs peft.

Every export format then writes the merged model: `transformers` (save_pretrained) for the hf_* models, `plait` (a
checkpoint whose config says `adapter=none`, which every command opens and `adapter.base` accepts) for Plait's
own, or onnx / torchscript / safetensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import OmegaConf
from torch import nn

from framework.engine.adapter import NARROWING, PEFT_WRAPPER, has_adapter, peft_wrapper
from framework.engine.adapter_config import GROUP, default_adapter
from framework.errors import PlaitError

if TYPE_CHECKING:
    from framework.engine.build import Built


def merged_model(built: Built) -> nn.Module:
    """The reopened run's model with its LoRA adapters merged into the base weights (in place: its linear layers
    are plain again and its state_dict the whole model); the run's config and state say `adapter=none` from here
    on. A run without adapters is an error."""
    model = built.model
    if not has_adapter(model):
        raise PlaitError(
            f"merge=true merges LoRA adapters, but {built.checkpoint} was trained without them (adapter=none); "
            "export it without merge"
        )
    for handle in model.__dict__.pop(NARROWING, []):
        handle.remove()  # the state_dict holds every weight again
    widen_stored_base(model)
    merged: nn.Module = peft_wrapper(model).merge_and_unload()
    merged.__dict__.pop(PEFT_WRAPPER, None)
    merged.__dict__.pop("peft_config", None)  # what peft left on the model
    built.model = merged
    built.cfg[GROUP] = default_adapter()
    if built.state is not None:  # what a `plait` export writes as the checkpoint's config
        config = OmegaConf.create(built.state["config"])
        config[GROUP] = default_adapter()
        built.state["config"] = OmegaConf.to_yaml(config)
    return merged


def widen_stored_base(model: nn.Module) -> None:
    """Frozen base weights stored narrower than their adapters (amp: the autocast dtype) back in the adapters'
    dtype before merging, so the merged layers have the dtype of the rest of the model."""
    for module in model.modules():
        base, adapters = getattr(module, "base_layer", None), getattr(module, "lora_A", None)
        if base is None or not isinstance(adapters, nn.ModuleDict) or not adapters:
            continue
        dtype = next(iter(adapters.values())).weight.dtype
        for p in base.parameters(recurse=False):
            if p.is_floating_point() and p.dtype != dtype:
                p.data = p.data.to(dtype)


def model_to_export(built: Built, merge: bool) -> nn.Module:
    """The model `plait export` writes: merged with `merge`; a run with adapters exported without it is an error
    (its checkpoint holds the adapters alone, which no format can stand for)."""
    if merge:
        return merged_model(built)
    if has_adapter(built.model):
        raise PlaitError(
            f"{built.checkpoint} holds LoRA adapter weights only (adapter=lora); export with merge=true (or --merge) "
            "to write them merged into the base model"
        )
    return built.model
