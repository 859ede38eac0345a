"""BERT-like Transformer encoder for sequence classification."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from framework.registry import MODELS, ComponentConfig, PlaitError
from framework.task import CLASSIFICATION, TaskSpec
from plugins.models.transformer_blocks import EncoderBlock, make_positions, padding_mask


@dataclass
class TransformerEncoderConfig(ComponentConfig):
    """Size and shape of the encoder classifier."""

    d_model: int = 128  # width of token representations
    n_layers: int = 2  # encoder blocks
    n_heads: int = 4  # attention heads (d_model must divide by it)
    d_ff: int = 256  # hidden width of the feed-forward layers
    dropout: float = 0.1  # dropout on attention, residual and feed-forward paths
    positional: str = "learned"  # learned | sinusoidal
    pooling: str = "cls"  # cls (a learned [CLS] vector prepended) | mean (over non-pad tokens)
    max_length: int = 512  # longest input, in tokens
    norm_eps: float = 1e-5  # LayerNorm epsilon


class TransformerEncoderClassifier(nn.Module):
    """Embeddings + positions -> pre-norm encoder blocks -> final norm -> pooled -> linear head.

    forward(input_ids (B, T) long, attention_mask (B, T) bool) -> logits (B, n_classes)
    """

    def __init__(self, cfg: TransformerEncoderConfig, vocab_size: int, n_classes: int, pad_id: int = 0) -> None:
        super().__init__()
        if cfg.pooling not in ("cls", "mean"):
            raise PlaitError(f"model.pooling='{cfg.pooling}' is not known; choose cls or mean")
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.d_model, padding_idx=pad_id)
        self.positions = make_positions(cfg.positional, cfg.max_length + 1, cfg.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if cfg.pooling == "cls" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, cfg.norm_eps) for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.d_model, n_classes)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        x = self.embed(input_ids)  # (B, T, D)
        keep = attention_mask.bool()
        if self.cls is not None:  # prepend [CLS]: (B, 1 + T, D)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
            keep = torch.cat([keep.new_ones(keep.shape[0], 1), keep], dim=1)
        if x.shape[1] > self.cfg.max_length + 1:
            raise PlaitError(f"input of {x.shape[1]} tokens exceeds model.max_length={self.cfg.max_length}")
        x = self.drop(x + self.positions(torch.arange(x.shape[1], device=x.device)))
        mask = padding_mask(keep)
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        if self.cls is not None:
            pooled = x[:, 0]
        else:  # mean over real tokens
            weights = keep.unsqueeze(-1).to(x.dtype)
            pooled = (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return self.head(pooled)


@MODELS.register("transformer_encoder", config=TransformerEncoderConfig)
def build_transformer_encoder(cfg: TransformerEncoderConfig, *, spec: TaskSpec) -> TransformerEncoderClassifier:
    """BERT-like encoder classifier: pre-norm blocks on SDPA, CLS or mean pooling."""
    if spec.kind != CLASSIFICATION:
        raise PlaitError(
            f"model=transformer_encoder classifies sequences but the task is '{spec.kind}'; "
            "pick a model for that task (see `plait list model`)"
        )
    return TransformerEncoderClassifier(cfg, spec.vocab_size, spec.n_classes or 2, spec.pad_id)
