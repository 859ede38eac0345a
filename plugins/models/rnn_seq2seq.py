"""Attentional LSTM/GRU encoder-decoder for translation (the seq2seq head of `model=lstm|gru`).

luong:    decoder states h_t from the RNN over the target, then context c_t = attend(h_t) (Luong et al. 2015)
bahdanau: c_t = attend(s_{t-1}) first, fed with the target token into the RNN step (Bahdanau et al. 2015)
Both predict from the attentional state tanh(W [h_t; c_t]). The decoder starts from a projection of the
masked mean of the encoder outputs, so `memory` is one tensor. Shapes: B batch, S source, T target length,
E = d_model, H = d_hidden, M = H * encoder directions, L layers, V target vocabulary.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from framework import PlaitError, TaskSpec
from plugins.models.configs import EmbeddingConfig
from plugins.models.embedding import make_embedding, tied_head
from plugins.models.pooling import masked_pool
from plugins.models.rnn_config import RNNAttention, RNNConfig
from plugins.models.rnn_layers import BahdanauAttention, LuongAttention, RecurrentStack, State

ATTENTIONS = RNNAttention.values()


class RNNSeq2Seq(nn.Module):
    """(Bi)LSTM/GRU encoder, attentional LSTM/GRU decoder, target-vocabulary logits.

    forward(src_ids (B, S), src_mask (B, S) bool, tgt_in (B, T)) -> logits (B, T, V)
    encode(src_ids, src_mask) -> memory (B, S, M); decode(tgt_in, memory, src_mask) -> logits (B, T, V)
    """

    def __init__(self, cfg: RNNConfig, spec: TaskSpec, cell: str) -> None:
        super().__init__()
        if cfg.attention not in ATTENTIONS:
            raise PlaitError(f"model.attention='{cfg.attention}' is not known; choose one of {', '.join(ATTENTIONS)}")
        self.cell, self.attention_kind, self.n_layers = cell, cfg.attention, cfg.n_layers
        target_vocab = spec.target_vocab_size or spec.vocab_size
        h = cfg.d_hidden
        self.src_embed = make_embedding(spec.vocab_size, cfg.d_model, spec.pad_id, cfg, spec)
        self.tgt_embed = make_embedding(target_vocab, cfg.d_model, spec.pad_id, EmbeddingConfig(), spec)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = RecurrentStack(cell, cfg.d_model, h, cfg.n_layers, cfg.bidirectional, cfg.dropout)
        d_mem = h * self.encoder.n_dirs
        n_states = 2 if cell == "lstm" else 1  # LSTM carries (h, c)
        self.bridge = nn.Linear(d_mem, n_states * cfg.n_layers * h)  # mean memory -> initial decoder state
        if cfg.attention == "luong":
            self.attention: LuongAttention | BahdanauAttention = LuongAttention(h, d_mem, cfg.luong_score)
            d_dec_in = cfg.d_model
        else:
            self.attention = BahdanauAttention(h, d_mem, h)
            d_dec_in = cfg.d_model + d_mem  # the target token and the context vector
        self.decoder = RecurrentStack(cell, d_dec_in, h, cfg.n_layers, False, cfg.dropout)
        self.combine = nn.Linear(h + d_mem, h)  # attentional state tanh(W [h_t; c_t])
        self.head = tied_head(h, target_vocab, self.tgt_embed if cfg.tie_embeddings else None)

    def encode(self, src_ids: Tensor, src_mask: Tensor | None) -> Tensor:
        """src_ids (B, S), src_mask (B, S) bool, right-padded -> memory (B, S, M), zeros at padding."""
        keep = src_mask.bool() if src_mask is not None else None
        memory: Tensor
        memory, _ = self.encoder(self.drop(self.src_embed(src_ids)), keep)
        return memory

    def initial_state(self, memory: Tensor, keep: Tensor) -> State:
        """Decoder start state from the mean of the real encoder outputs: (L, B, H), or (h, c) for LSTM."""
        state = torch.tanh(self.bridge(masked_pool(memory, keep, "mean")))  # (B, n_states * L * H)
        state = rearrange(state, "b (k l h) -> k l b h", k=2 if self.cell == "lstm" else 1, l=self.n_layers)
        state = state.contiguous()
        return (state[0], state[1]) if self.cell == "lstm" else state[0]

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor | None) -> Tensor:
        """tgt_in (B, T) (BOS + target so far), memory (B, S, M), src_mask (B, S) -> logits (B, T, V)."""
        keep = src_mask.bool() if src_mask is not None else memory.new_ones(memory.shape[:2]).bool()
        state = self.initial_state(memory, keep)
        y = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        keys = self.attention.keys(memory)  # once per sequence
        if self.attention_kind == "luong":
            h, _ = self.decoder(y, None, state)  # (B, T, H): teacher forcing over the whole target at once
            context, _ = self.attention(h, keys, memory, keep)  # (B, T, M)
        else:
            h, context = self._bahdanau_steps(y, state, keys, memory, keep)
        attentional = torch.tanh(self.combine(torch.cat([h, context.to(h.dtype)], dim=-1)))  # (B, T, H)
        logits: Tensor = self.head(self.drop(attentional))
        return logits

    def _bahdanau_steps(
        self, y: Tensor, state: State, keys: Tensor, memory: Tensor, keep: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Step through the target: c_t from s_{t-1}, then s_t = RNN([y_t; c_t], s_{t-1}). -> (B, T, H), (B, T, M)."""
        prev = self.decoder.top_hidden(state)[:, None]  # s_{t-1}: (B, 1, H)
        outputs, contexts = [], []
        for t in range(y.shape[1]):
            context, _ = self.attention(prev, keys, memory, keep)  # (B, 1, M)
            step_in = torch.cat([y[:, t : t + 1], context.to(y.dtype)], dim=-1)  # (B, 1, E + M)
            prev, state = self.decoder(step_in, None, state)  # (B, 1, H)
            outputs.append(prev)
            contexts.append(context)
        return torch.cat(outputs, dim=1), torch.cat(contexts, dim=1)

    def forward(self, src_ids: Tensor, src_mask: Tensor | None, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V)."""
        return self.decode(tgt_in, self.encode(src_ids, src_mask), src_mask)
