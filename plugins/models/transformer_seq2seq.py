"""Encoder-decoder Transformer with cross-attention ("Attention Is All You Need"), pre-norm."""

from __future__ import annotations

from torch import Tensor, nn

from framework import SEQ2SEQ, TaskSpec
from plugins.models.configs import EmbeddingConfig, TransformerSeq2SeqConfig
from plugins.models.embedding import make_embedding, tied_head
from plugins.models.kinds import check_kind
from plugins.models.transformer_blocks import KV, TransformerStack, input_embedding, reorder_kv


class TransformerSeq2Seq(nn.Module):
    """Bidirectional encoder over the source; causal decoder attending to it; target-vocabulary logits.

    forward(src_ids (B, S), src_mask (B, S) bool, tgt_in (B, T)) -> logits (B, T, target vocab)
    encode(src_ids, src_mask) -> memory (B, S, D); decode(tgt_in, memory, src_mask) -> logits (B, T, target vocab)
    decode_cached(tgt_new (B, T), memory, src_mask, cache | None) -> (logits (B, T, target vocab), cache): the
        decoder continued from `cache` (self-attention keys/values of earlier target positions and the memory's
        keys/values), so each decoding step costs one position; rows of a cache are reordered with
        `reorder_cache` (beam search).
    """

    def __init__(self, cfg: TransformerSeq2SeqConfig, spec: TaskSpec) -> None:
        super().__init__()
        self.cfg = cfg
        shared_vocab = spec.target_vocab_size is None or spec.target_vocab_size == spec.vocab_size
        target_vocab = spec.target_vocab_size or spec.vocab_size
        src_embed = input_embedding(cfg, spec)
        if cfg.share_embeddings and shared_vocab:
            tgt_embed = src_embed
        else:  # the target side has its own vocabulary: pretrained source vectors do not apply
            tgt_embed = make_embedding(target_vocab, cfg.d_model, spec.pad_id, EmbeddingConfig(), spec)
        self.encoder = TransformerStack(cfg, cfg.n_layers, src_embed)
        n_dec = cfg.n_decoder_layers if cfg.n_decoder_layers is not None else cfg.n_layers
        self.decoder = TransformerStack(cfg, n_dec, tgt_embed, causal=True, cross=True)
        self.head = tied_head(cfg.d_model, target_vocab, tgt_embed if cfg.tie_embeddings else None)

    def encode(self, src_ids: Tensor, src_mask: Tensor | None) -> Tensor:
        """src_ids (B, S), src_mask (B, S) bool -> memory (B, S, D)."""
        keep = src_mask.bool() if src_mask is not None else None
        memory: Tensor
        memory, _ = self.encoder(self.encoder.embed(src_ids), keep)
        return memory

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor | None) -> Tensor:
        """tgt_in (B, T) (BOS + target so far), memory (B, S, D), src_mask (B, S) -> logits (B, T, target vocab)."""
        keep = src_mask.bool() if src_mask is not None else None
        x, _ = self.decoder(self.decoder.embed(tgt_in), memory=memory, memory_keep=keep)
        logits: Tensor = self.head(x)
        return logits

    def decode_cached(
        self, tgt_new: Tensor, memory: Tensor, src_mask: Tensor | None, cache: list[KV] | None
    ) -> tuple[Tensor, list[KV]]:
        """tgt_new (B, T) following the positions in `cache` -> (logits (B, T, target vocab), the longer cache)."""
        keep = src_mask.bool() if src_mask is not None else None
        x, cache = self.decoder(self.decoder.embed(tgt_new), memory=memory, memory_keep=keep, cache=cache)
        return self.head(x), cache

    reorder_cache = staticmethod(reorder_kv)  # rows of the cache follow beam search's choices

    def forward(self, src_ids: Tensor, src_mask: Tensor | None, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, target vocab)."""
        return self.decode(tgt_in, self.encode(src_ids, src_mask), src_mask)


def build_transformer_seq2seq(cfg: TransformerSeq2SeqConfig, *, spec: TaskSpec) -> TransformerSeq2Seq:
    """Encoder-decoder Transformer (pre-norm, cross-attention) for translation-like tasks."""
    check_kind("transformer_seq2seq", spec, (SEQ2SEQ,))
    return TransformerSeq2Seq(cfg, spec)
