"""Shared logic of the Hugging Face adapters: size fields, build-or-load, the wrapper module and export.

`transformers` is imported inside functions only, so listing or describing components stays fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from torch import Tensor, nn

from framework import PlaitError, TaskSpec
from plugins.models.configs import HFModelConfig

HF_CONFIG_FILE = "config.json"


class HFModel(nn.Module):
    """A `transformers` model (`self.hf`) behind plait's forward contract; exportable with `save_pretrained`."""

    def __init__(self, hf: Any) -> None:
        super().__init__()
        self.hf = hf

    def save_pretrained(self, directory: Path | str) -> None:
        """Write the wrapped model so `transformers` can load `directory` with `from_pretrained`."""
        self.hf.save_pretrained(str(directory))

    @functools.cached_property
    def cache_arg(self) -> str:
        """The keyword the wrapped model takes its key/value cache by (`cache` since transformers 5)."""
        return "cache" if "cache" in inspect.signature(self.hf.forward).parameters else "past_key_values"

    def cached_call(self, cache: Any, **inputs: Any) -> tuple[Tensor, Any]:
        """Logits of the new positions in `inputs`, continuing `cache` (None at first), and the longer cache."""
        out = self.hf(**inputs, use_cache=True, **{self.cache_arg: cache})
        return out.logits, getattr(out, self.cache_arg)

    @staticmethod
    def reorder_cache(cache: Any, rows: Tensor) -> Any:
        """The cache of rows `rows` (beam search keeps some hypotheses and copies others).

        transformers' Cache objects are reordered in place; in an encoder-decoder cache only the self-attention
        part moves (`rows` stay within each sentence's beams, whose cross-attention keys/values are the same).
        Legacy tuples of tensors (older transformers) are copied.
        """
        own = getattr(cache, "self_attention_cache", cache)
        if callable(getattr(own, "reorder_cache", None)):
            own.reorder_cache(rows)
            return cache
        return tuple(tuple(t.index_select(0, rows) for t in layer) for layer in cache)


class SpecialIds(TypedDict):
    """The special-token fields of a transformers config."""

    pad_token_id: int | None
    bos_token_id: int | None
    eos_token_id: int | None


def special_ids(spec: TaskSpec) -> SpecialIds:
    """pad/bos/eos ids for a transformers config, from the task spec."""
    return {
        "pad_token_id": spec.pad_id,
        "bos_token_id": spec.extra.get("bos_id"),
        "eos_token_id": spec.extra.get("eos_id"),
    }


def positions(cfg: HFModelConfig, spec: TaskSpec) -> int:
    """Size of the position table: the configured one, else the task's max_length."""
    return cfg.max_length or spec.max_length


def check_sizes(cfg: HFModelConfig) -> None:
    """Reject sizes that transformers would fail on with a less helpful message."""
    if cfg.d_model % cfg.n_heads:
        raise PlaitError(f"model.d_model={cfg.d_model} must be divisible by model.n_heads={cfg.n_heads}")


def build_or_load(
    cfg: HFModelConfig,
    *,
    vocab_size: int,
    auto_class: str,
    model_class: str,
    make_config: Callable[[], Any],
    **pretrained_kwargs: Any,
) -> Any:
    """A transformers model: `auto_class.from_pretrained(cfg.pretrained)` (local files only) or `model_class` built
    from the size fields; the embeddings grow to `vocab_size` when the tokenizer has more ids (an added pad)."""
    import transformers

    if cfg.pretrained:
        path = Path(cfg.pretrained).expanduser()
        if not (path / HF_CONFIG_FILE).is_file():
            raise PlaitError(
                f"model.pretrained={cfg.pretrained}: no {HF_CONFIG_FILE} in {path}; point it at a local directory "
                "written by save_pretrained (the hub is never used)"
            )
        try:
            model = getattr(transformers, auto_class).from_pretrained(
                str(path), local_files_only=True, **pretrained_kwargs
            )
        except (OSError, ValueError) as exc:
            raise PlaitError(f"model.pretrained={cfg.pretrained}: cannot load it with {auto_class}: {exc}") from exc
    else:
        check_sizes(cfg)
        model = getattr(transformers, model_class)(make_config())
    if vocab_size > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(vocab_size)
    if cfg.activation_checkpointing:  # transformers recomputes each layer in backward while the model trains
        enable = getattr(model, "activation_checkpointing_enable", None)  # its name since transformers 5
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model
