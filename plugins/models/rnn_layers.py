"""Recurrent building blocks: a packed LSTM/GRU stack, attention over encoder states, masked pooling.

Shapes: B batch, T length (queries), S source length, E embedding width, H hidden width per direction,
M memory width (H times the encoder's directions), L layers.
"""

from __future__ import annotations

from typing import Union

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from framework import PlaitError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
State = Union[Tensor, tuple[Tensor, Tensor]]  # GRU: h (L*dirs, B, H); LSTM: (h, c)


class RecurrentStack(nn.Module):
    """cuDNN-backed nn.LSTM / nn.GRU over padded batches; packing keeps padding out of the results."""

    def __init__(self, cell: str, d_in: int, d_hidden: int, n_layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.cell = cell
        self.n_dirs = 2 if bidirectional else 1
        self.rnn = CELLS[cell](
            d_in,
            d_hidden,
            num_layers=n_layers,
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,  # between layers only
            bidirectional=bidirectional,
        )

    def forward(self, x: Tensor, keep: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, E), keep (B, T) right-padded -> outputs (B, T, H * dirs) (zeros at padding), final state."""
        if keep is None:
            unpacked: tuple[Tensor, State] = self.rnn(x, state)
            return unpacked
        lengths = keep.sum(1).clamp_min(1).cpu()  # pack needs host lengths >= 1
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, state

    def top_hidden(self, state: State) -> Tensor:
        """The last layer's final hidden state (B, H * dirs): forward direction's last step, backward's first."""
        h = state[0] if isinstance(state, tuple) else state  # (L * dirs, B, H)
        return rearrange(h[-self.n_dirs :], "d b h -> b (d h)")


def attend(scores: Tensor, memory: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    """scores (B, T, S) -> context (B, T, M) = softmax over real source positions of memory (B, S, M), and weights."""
    if keep is not None:
        scores = scores.masked_fill(~keep.bool()[:, None, :], float("-inf"))
    weights = scores.float().softmax(-1)  # (B, T, S)
    return torch.bmm(weights.to(memory.dtype), memory), weights


class LuongAttention(nn.Module):
    """Luong et al. 2015 global attention: score = h_t^T W m_s (`general`) or h_t^T m_s (`dot`)."""

    def __init__(self, d_query: int, d_memory: int, score: str = "general") -> None:
        super().__init__()
        if score not in ("general", "dot"):
            raise PlaitError(f"model.luong_score='{score}' is not known; choose general or dot")
        if score == "dot" and d_query != d_memory:
            raise PlaitError(
                f"luong_score=dot needs decoder width {d_query} == encoder output width {d_memory} "
                "(a bidirectional encoder doubles it); use model.luong_score=general"
            )
        self.proj = nn.Linear(d_memory, d_query, bias=False) if score == "general" else None

    def keys(self, memory: Tensor) -> Tensor:
        """Per-source keys, computed once per sequence: (B, S, M) -> (B, S, H)."""
        return self.proj(memory) if self.proj is not None else memory

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, M), weights (B, T, S)."""
        return attend(torch.bmm(query, keys.transpose(1, 2).to(query.dtype)), memory, keep)


class BahdanauAttention(nn.Module):
    """Bahdanau et al. 2015 additive attention: score = v^T tanh(W s + U m_s)."""

    def __init__(self, d_query: int, d_memory: int, d_attention: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_query, d_attention, bias=False)
        self.key = nn.Linear(d_memory, d_attention)
        self.v = nn.Linear(d_attention, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """U m_s, computed once per sequence: (B, S, M) -> (B, S, A)."""
        projected: Tensor = self.key(memory)
        return projected

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, M), weights (B, T, S)."""
        energy = torch.tanh(self.query(query)[:, :, None] + keys[:, None])  # (B, T, S, A)
        return attend(self.v(energy).squeeze(-1), memory, keep)
