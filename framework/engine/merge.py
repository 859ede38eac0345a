"""`plait export <run> <out> --merge`: a run trained with `adapter=lora` as one plain model, its adapters added
into the base weights (peft's `merge_and_unload`), so nothing downstream needs peft.

An hf_* model is then written by the export command with `save_pretrained`; a Plait model becomes a Plait run
directory of one checkpoint (`<out>/checkpoints/step_N/`, config with `adapter=none`, the run's task spec and
tokenizer) that every command opens and that `adapter.base` accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import OmegaConf
from torch import nn

from framework.engine.adapter import NARROWING, PEFT_WRAPPER, has_adapter, peft_wrapper
from framework.engine.adapter_config import GROUP, default_adapter
from framework.engine.averaging import TRAINING_ONLY
from framework.engine.checkpoint import TOKENIZER_DIR, Checkpointer
from framework.errors import PlaitError

if TYPE_CHECKING:
    from framework.engine.build import Built


def merged_model(built: Built) -> nn.Module:
    """The reopened run's model with its LoRA adapters merged into the base weights (in place: the linear layers
    are plain again and its state_dict is the whole model); a run without adapters is an error."""
    model = built.model
    if not has_adapter(model):
        raise PlaitError(
            f"--merge merges LoRA adapters, but {built.checkpoint} was trained without them (adapter=none); "
            "export it without --merge"
        )
    for handle in model.__dict__.pop(NARROWING, []):
        handle.remove()  # the state_dict holds every weight again
    merged: nn.Module = peft_wrapper(model).merge_and_unload()
    merged.__dict__.pop(PEFT_WRAPPER, None)
    merged.__dict__.pop("peft_config", None)  # what peft left on the model
    built.model = merged
    return merged


def write_merged_run(built: Built, out_dir: Path | str) -> Path:
    """Write the run's merged model (`merged_model`) as a Plait run directory with one checkpoint; returns it."""
    model = merged_model(built)
    opened = built.checkpoint
    assert opened is not None and built.state is not None
    state = {k: v for k, v in built.state.items() if k not in TRAINING_ONLY}
    config = OmegaConf.create(state["config"])
    config[GROUP] = default_adapter()  # the weights are whole: nothing to adapt when reopened
    state["config"] = OmegaConf.to_yaml(config)
    state["model"] = model.state_dict()
    files = {TOKENIZER_DIR: opened / TOKENIZER_DIR} if (opened / TOKENIZER_DIR).exists() else {}
    return Checkpointer(Path(out_dir).expanduser() / "checkpoints", keep_last=0).save(int(state["step"]), state, files)


def merge_for_export(built: Built, out_dir: Path | str, merge: bool) -> Path | None:
    """`plait export`'s merge step: an hf_* model's adapters merged in place (None: the export goes on with
    `save_pretrained`), a Plait model written merged as a run directory (its checkpoint returned). A run with
    adapters exported without `merge` is an error (its weights alone are no model)."""
    if not merge:
        if has_adapter(built.model):
            raise PlaitError(
                f"{built.checkpoint} holds LoRA adapter weights only (adapter=lora); pass --merge to export them "
                "merged into the base model"
            )
        return None
    if callable(getattr(built.model, "save_pretrained", None)):
        merged_model(built)
        return None
    return write_merged_run(built, out_dir)
