"""Transformer building blocks shared by the encoder, decoder and seq2seq models.

Shapes: B batch, T query length, S key/memory length, D d_model, H heads, Dh = D / H.
Attention runs on `scaled_dot_product_attention`, which picks flash / memory-efficient kernels when
it can, except when training on CPU: in bf16 its math kernel is the faster, and with dropout (which every other
CPU kernel refuses) `math_attention` runs instead (`model.attention_kernel`, docs/performance.md "Compute
efficiency"); masks are bool, True where attending is allowed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

from framework import PlaitError, TaskSpec
from plugins.models.configs import AttentionKernel, DropoutKernel, TransformerConfig
from plugins.models.dropout import Dropout, fast_dropout_ok
from plugins.models.embedding import make_embedding
from plugins.models.math_attention import math_attention
from plugins.models.positions import PositionalEncoding, Rope, apply_rope

KV = tuple[Tensor, ...]  # one layer's cached self-attention keys and values, each (B, H, S_past, Dh);
# a decoder block with cross-attention appends the memory's keys and values (B, H, S, Dh), computed once


def reorder_kv(cache: list[KV], rows: Tensor) -> list[KV]:
    """The cache of rows `rows` (beam search keeps some hypotheses and copies others). Only the self-attention
    part moves: `rows` stay within each sentence's block of beams, whose memory keys/values are the same."""
    return [(*(t.index_select(0, rows) for t in layer[:2]), *layer[2:]) for layer in cache]


def attend(
    q: Tensor, k: Tensor, v: Tensor, *, kernel: AttentionKernel, dropout_kernel: DropoutKernel = DropoutKernel.auto,
    attn_mask: Tensor | None = None, dropout_p: float = 0.0, is_causal: bool = False,
) -> Tensor:  # fmt: skip
    """`scaled_dot_product_attention` on the kernel `kernel` asks for. With dropout on the CPU every SDPA kernel
    but math refuses; there `auto` runs `math_attention` (written out, its dropout on random bits) instead."""
    sdpa: dict[str, Any] = {"attn_mask": attn_mask, "dropout_p": dropout_p, "is_causal": is_causal}
    if dropout_p > 0 and kernel == AttentionKernel.auto and fast_dropout_ok(q, dropout_p, dropout_kernel):
        return math_attention(q, k, v, **sdpa)
    cpu_bf16_training = q.device.type == "cpu" and q.dtype == torch.bfloat16 and torch.is_grad_enabled()
    if kernel == AttentionKernel.math or (kernel == AttentionKernel.auto and cpu_bf16_training):
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, **sdpa)
    return F.scaled_dot_product_attention(q, k, v, **sdpa)


class Attention(nn.Module):
    """Multi-head attention on SDPA: self-attention (fused qkv) or, with `cross=True`, attention to a memory."""

    def __init__(
        self, d_model: int, n_heads: int, dropout: float, *, cross: bool = False,
        kernel: AttentionKernel = AttentionKernel.auto, dropout_kernel: DropoutKernel = DropoutKernel.auto,
    ) -> None:  # fmt: skip
        super().__init__()
        self.kernel, self.dropout_kernel = AttentionKernel(kernel), DropoutKernel(dropout_kernel)
        if d_model % n_heads:
            raise PlaitError(f"model.d_model={d_model} must be divisible by model.n_heads={n_heads}")
        self.n_heads = n_heads
        self.cross = cross
        if cross:
            self.q, self.kv = nn.Linear(d_model, d_model), nn.Linear(d_model, 2 * d_model)
        else:
            self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(
        self,
        x: Tensor,
        *,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        is_causal: bool = False,
        rope: Rope | None = None,
        past: KV | None = None,
    ) -> tuple[Tensor, KV]:
        """x (B, T, D) -> (B, T, D) and this call's keys/values (past ones included) for a KV cache."""
        if self.cross:  # queries from x, keys/values from memory (B, S, D); no rotation across sequences
            q = rearrange(self.q(x), "b t (h d) -> b h t d", h=self.n_heads)
            if past is not None:  # the memory does not change while decoding: its keys/values are reused
                k, v = past
            else:
                k, v = rearrange(self.kv(memory), "b s (two h d) -> two b h s d", two=2, h=self.n_heads)
        else:
            q, k, v = rearrange(self.qkv(x), "b t (three h d) -> three b h t d", three=3, h=self.n_heads)
            if rope is not None:
                q, k = apply_rope(q, rope), apply_rope(k, rope)
            if past is not None:  # keys/values of earlier positions: (B, H, S_past + T, Dh)
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = attend(
            q, k, v, kernel=self.kernel, dropout_kernel=self.dropout_kernel, attn_mask=mask, dropout_p=drop,
            is_causal=is_causal,
        )  # fmt: skip
        return self.out(rearrange(y, "b h t d -> b t (h d)")), (k, v)


class FeedForward(nn.Module):
    """Position-wise MLP: D -> d_ff -> D with GELU."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, kernel: DropoutKernel = DropoutKernel.auto) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), Dropout(dropout, kernel), nn.Linear(d_ff, d_model)
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        out: Tensor = self.net(x)
        return out


class TransformerBlock(nn.Module):
    """Pre-norm block: x + SelfAttn(LN(x)) [+ CrossAttn(LN(x), memory)] + FFN(LN(x))."""

    def __init__(self, cfg: TransformerConfig, *, cross: bool = False) -> None:
        super().__init__()
        d, eps = cfg.d_model, cfg.norm_eps
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(
            d, cfg.n_heads, cfg.dropout, kernel=cfg.attention_kernel, dropout_kernel=cfg.dropout_kernel
        )
        self.norm_cross = nn.LayerNorm(d, eps=eps) if cross else None
        self.cross_attn = (
            Attention(
                d, cfg.n_heads, cfg.dropout, cross=True, kernel=cfg.attention_kernel, dropout_kernel=cfg.dropout_kernel
            )
            if cross
            else None
        )
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.ff = FeedForward(d, cfg.d_ff, cfg.dropout, cfg.dropout_kernel)
        self.drop = Dropout(cfg.dropout, cfg.dropout_kernel)

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        rope: Rope | None = None,
        past: KV | None = None,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> tuple[Tensor, KV]:
        """x (B, T, D) -> (B, T, D) and the self-attention keys/values (+ the memory's, with cross-attention)."""
        h, kv = self.attn(self.norm1(x), mask=mask, is_causal=is_causal, rope=rope, past=past[:2] if past else None)
        x = x + self.drop(h)
        if self.cross_attn is not None and self.norm_cross is not None:  # both or neither (`cross`)
            cross_past = past[2:] if past is not None and len(past) == 4 else None
            h, cross_kv = self.cross_attn(self.norm_cross(x), memory=memory, mask=memory_mask, past=cross_past)
            x = x + self.drop(h)
            kv = (*kv, *cross_kv)
        return x + self.drop(self.ff(self.norm2(x))), kv


def padding_mask(attention_mask: Tensor) -> Tensor:
    """(B, S) keep-mask -> (B, 1, 1, S) boolean mask SDPA broadcasts over heads and queries."""
    return attention_mask.bool()[:, None, None, :]


def causal_mask(keep: Tensor | None, n_new: int, n_past: int, device: torch.device) -> Tensor:
    """(1 | B, 1, T, S_past + T) mask: position n_past + i sees keys <= itself that `keep` (B, S) marks real.

    Every query keeps its own key, so rows of padding never become all-masked (SDPA would give NaN).
    """
    query_pos = torch.arange(n_past, n_past + n_new, device=device)[:, None]  # (T, 1)
    key_pos = torch.arange(n_past + n_new, device=device)[None, :]  # (1, S)
    allowed = (key_pos <= query_pos)[None, None]  # (1, 1, T, S)
    if keep is not None:
        allowed = (allowed & padding_mask(keep)) | (key_pos == query_pos)
    return allowed


def cache_length(cache: list[KV] | None) -> int:
    """How many positions a KV cache holds."""
    return cache[0][0].shape[2] if cache else 0


class TransformerStack(nn.Module):
    """Token embedding + positions -> pre-norm blocks -> final LayerNorm; encoder or (causal) decoder side."""

    def __init__(
        self,
        cfg: TransformerConfig,
        n_layers: int,
        embed: nn.Embedding,
        *,
        causal: bool = False,
        cross: bool = False,
        extra_positions: int = 0,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.max_length, self.extra_positions = cfg.max_length, extra_positions
        self.embed = embed
        self.positions = PositionalEncoding(cfg.positional, cfg.max_length + extra_positions, cfg.d_model, cfg.n_heads)
        self.drop = Dropout(cfg.dropout, cfg.dropout_kernel)
        self.blocks = nn.ModuleList(TransformerBlock(cfg, cross=cross) for _ in range(n_layers))
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.checkpointing = cfg.activation_checkpointing

    def forward(
        self,
        x: Tensor,
        keep: Tensor | None = None,
        *,
        memory: Tensor | None = None,
        memory_keep: Tensor | None = None,
        cache: list[KV] | None = None,
    ) -> tuple[Tensor, list[KV]]:
        """Embedded tokens x (B, T, D), keep-mask (B, T) -> hidden states (B, T, D) and the updated KV cache.

        Without a cache, positions count real tokens (so left padding is harmless); with one, they continue it.
        """
        n_past, n_new = cache_length(cache), x.shape[1]
        if n_past + n_new > self.max_length + self.extra_positions:  # host-side check: no device sync
            raise PlaitError(
                f"a sequence of {n_past + n_new - self.extra_positions} tokens exceeds model.max_length="
                f"{self.max_length}; raise model.max_length or shorten the input (e.g. task.max_length)"
            )
        if keep is not None and n_past:
            raise PlaitError("a KV cache cannot be combined with an attention mask; decode unpadded prompts")
        if keep is not None:
            positions = (keep.long().cumsum(1) - 1).clamp_min(0)  # (B, T): index among real tokens
        else:
            positions = torch.arange(n_past, n_past + n_new, device=x.device)  # (T,)
        if not self.causal:
            mask, is_causal = (padding_mask(keep) if keep is not None else None), False
        elif keep is None and (not n_past or n_new == 1):
            mask, is_causal = None, not n_past  # plain causal (SDPA's fastest path), or one token seeing all
        else:
            mask, is_causal = causal_mask(keep, n_new, n_past, x.device), False
        memory_mask = padding_mask(memory_keep) if memory_keep is not None else None
        rope = self.positions.rope(positions)
        x = self.drop(self.positions.add(x, positions))
        new_cache = []
        # activation checkpointing (training only): each block's activations are recomputed in backward, from its
        # input; non-reentrant, so keyword arguments pass through and the dropout masks repeat (RNG state restored)
        recompute = self.checkpointing and self.training and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            past = cache[i] if cache else None
            kwargs: dict[str, Any] = {"mask": mask, "is_causal": is_causal, "rope": rope, "past": past}
            kwargs.update(memory=memory, memory_mask=memory_mask)
            if recompute:
                x, kv = checkpoint(block, x, use_reentrant=False, **kwargs)
            else:
                x, kv = block(x, **kwargs)
            new_cache.append(kv)
        return self.norm(x), new_cache


def input_embedding(cfg: TransformerConfig, spec: TaskSpec, vocab_size: int | None = None) -> nn.Embedding:
    """The input token embedding (pretrained per cfg when set) for the task's vocabulary."""
    return make_embedding(vocab_size or spec.vocab_size, cfg.d_model, spec.pad_id, cfg, spec)
