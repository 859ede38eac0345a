"""Hugging Face causal language model (GPT-2 shape from scratch, or any local causal-LM checkpoint)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from framework import LANGUAGE_MODELING, TaskSpec
from plugins.models.configs import HFCausalLMConfig
from plugins.models.generation import Generation
from plugins.models.hf_common import HFModel, build_or_load, positions, special_ids
from plugins.models.kinds import check_kind


class HFCausalLM(Generation, HFModel):
    """forward(input_ids (B, T) long, attention_mask (B, T) bool | None) -> logits (B, T, vocab); has generate().

    forward_cached / reorder_cache decode with the model's own key/value cache (sampling, greedy and beam search).
    """

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        mask = attention_mask.long() if attention_mask is not None else None
        logits: Tensor = self.hf(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
        return logits

    def forward_cached(self, input_ids: Tensor, cache: Any = None) -> tuple[Tensor, Any]:
        """Logits of the new tokens `input_ids` (B, T) given the key/value `cache` of earlier ones (None at first)."""
        return self.cached_call(cache, input_ids=input_ids)


def gpt2_config(cfg: HFCausalLMConfig, spec: TaskSpec) -> Any:
    """A transformers GPT2Config with plait's size fields."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=spec.vocab_size,
        n_positions=positions(cfg, spec),
        n_embd=cfg.d_model,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        n_inner=cfg.d_ff,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        **special_ids(spec),
    )


def build_hf_causal_lm(cfg: HFCausalLMConfig, *, spec: TaskSpec) -> HFCausalLM:
    """Hugging Face causal LM: GPT-2 architecture from our sizes, or a local pretrained directory."""
    check_kind("hf_causal_lm", spec, (LANGUAGE_MODELING,))
    hf = build_or_load(
        cfg,
        vocab_size=spec.vocab_size,
        auto_class="AutoModelForCausalLM",
        model_class="GPT2LMHeadModel",
        make_config=lambda: gpt2_config(cfg, spec),
    )
    return HFCausalLM(hf)
