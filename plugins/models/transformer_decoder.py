"""GPT-like causal Transformer language model with a KV cache for generation."""

from __future__ import annotations

from torch import Tensor, nn

from framework import LANGUAGE_MODELING, TaskSpec
from plugins.models.configs import TransformerDecoderConfig
from plugins.models.embedding import tied_head
from plugins.models.generation import Generation
from plugins.models.kinds import check_kind
from plugins.models.transformer_blocks import KV, TransformerStack, input_embedding, reorder_kv


class TransformerDecoderLM(Generation, nn.Module):
    """Embeddings + positions -> causal pre-norm blocks -> final norm -> vocabulary logits.

    forward(input_ids (B, T), attention_mask (B, T) bool | None) -> logits (B, T, vocab)
    forward_cached(input_ids (B, T), cache) -> (logits (B, T, vocab), cache: one (k, v) per layer)
    reorder_cache(cache, rows) -> the cache of rows `rows` (beam search)
    """

    def __init__(self, cfg: TransformerDecoderConfig, spec: TaskSpec) -> None:
        super().__init__()
        self.cfg = cfg
        embed = input_embedding(cfg, spec)
        self.decoder = TransformerStack(cfg, cfg.n_layers, embed, causal=True)
        self.head = tied_head(cfg.d_model, spec.vocab_size, embed if cfg.tie_embeddings else None)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T) -> logits (B, T, vocab); `attention_mask` hides padding (left or right).

        Without padding pass attention_mask=None: plain causal attention runs SDPA's fastest kernels.
        """
        keep = attention_mask.bool() if attention_mask is not None else None
        x, _ = self.decoder(self.decoder.embed(input_ids), keep)  # (B, T, D)
        logits: Tensor = self.head(x)
        return logits

    def forward_cached(self, input_ids: Tensor, cache: list[KV] | None) -> tuple[Tensor, list[KV]]:
        """input_ids (B, T) following the cached positions (cache=None to start) -> logits and the new cache."""
        x, cache = self.decoder(self.decoder.embed(input_ids), cache=cache or [])
        return self.head(x), cache

    reorder_cache = staticmethod(reorder_kv)  # rows of the cache follow beam search's choices


def build_transformer_decoder(cfg: TransformerDecoderConfig, *, spec: TaskSpec) -> TransformerDecoderLM:
    """GPT-like causal LM: pre-norm blocks on causal SDPA, tied embeddings, KV-cached generate()."""
    check_kind("transformer_decoder", spec, (LANGUAGE_MODELING,))
    return TransformerDecoderLM(cfg, spec)
