"""LSTM and GRU models (`model=lstm`, `model=gru`): one implementation, the head chosen by the task kind.

classification -> RNNClassifier, language_modeling -> RNNLanguageModel, seq2seq -> RNNSeq2Seq (with
Luong or Bahdanau attention). Shapes: B batch, T length, E = d_model, H = d_hidden, V vocabulary.
"""

from __future__ import annotations

from torch import Tensor, nn

from framework import (
    CLASSIFICATION,
    LANGUAGE_MODELING,
    QUESTION_ANSWERING,
    SEQ2SEQ,
    PlaitError,
    TaskSpec,
)
from plugins.models.embedding import make_embedding, tied_head
from plugins.models.generation import Generation
from plugins.models.kinds import EncoderQA, check_kind, qa_outputs
from plugins.models.pooling import masked_pool
from plugins.models.rnn_config import POOLINGS, GRUConfig, LSTMConfig, RNNConfig
from plugins.models.rnn_layers import RecurrentStack, State
from plugins.models.rnn_seq2seq import RNNSeq2Seq


class RNNClassifier(nn.Module):
    """Embedding -> (bi)LSTM/GRU over the real tokens -> pooled -> linear head.

    forward(input_ids (B, T), attention_mask (B, T) bool, right-padded) -> logits (B, n_classes)
    """

    def __init__(self, cfg: RNNConfig, spec: TaskSpec, cell: str, n_outputs: int | None = None) -> None:
        super().__init__()
        if cfg.pooling not in POOLINGS:
            raise PlaitError(f"model.pooling='{cfg.pooling}' is not known; choose one of {', '.join(POOLINGS)}")
        self.pooling = cfg.pooling
        self.embed = make_embedding(spec.vocab_size, cfg.d_model, spec.pad_id, cfg, spec)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cell, cfg.d_model, cfg.d_hidden, cfg.n_layers, cfg.bidirectional, cfg.dropout)
        self.head = nn.Linear(cfg.d_hidden * self.rnn.n_dirs, n_outputs or spec.n_classes or 2)

    def features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """input_ids (B, T), attention_mask (B, T) -> (token states (B, T, H * dirs), pooled (B, H * dirs))."""
        keep = attention_mask.bool() if attention_mask is not None else input_ids.new_ones(input_ids.shape).bool()
        out, state = self.rnn(self.drop(self.embed(input_ids)), keep)  # (B, T, H * dirs)
        pooled = self.rnn.top_hidden(state) if self.pooling == "last" else masked_pool(out, keep, self.pooling)
        return self.drop(out), self.drop(pooled)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T), attention_mask (B, T) -> logits (B, n_classes)."""
        logits: Tensor = self.head(self.features(input_ids, attention_mask)[1])
        return logits


class RNNLanguageModel(Generation, nn.Module):
    """Embedding -> unidirectional LSTM/GRU -> vocabulary logits; the recurrent state is the decoding cache.

    forward(input_ids (B, T), attention_mask (B, T) | None, right-padded) -> logits (B, T, V)
    forward_cached(input_ids (B, T), state | None) -> (logits (B, T, V), state)
    reorder_cache(state, rows) -> the state of rows `rows` (beam search)
    """

    def __init__(self, cfg: RNNConfig, spec: TaskSpec, cell: str) -> None:
        super().__init__()
        if cfg.bidirectional:
            raise PlaitError("a language model reads left to right; set model.bidirectional=false")
        self.embed = make_embedding(spec.vocab_size, cfg.d_model, spec.pad_id, cfg, spec)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cell, cfg.d_model, cfg.d_hidden, cfg.n_layers, False, cfg.dropout)
        self.head = tied_head(cfg.d_hidden, spec.vocab_size, self.embed if cfg.tie_embeddings else None)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, T) -> logits (B, T, V); padding positions give logits of zeros."""
        keep = attention_mask.bool() if attention_mask is not None else None
        out, _ = self.rnn(self.drop(self.embed(input_ids)), keep)  # (B, T, H)
        logits: Tensor = self.head(self.drop(out))
        return logits

    def forward_cached(self, input_ids: Tensor, cache: State | None) -> tuple[Tensor, State]:
        """input_ids (B, T) continuing from recurrent state `cache` -> logits (B, T, V) and the new state."""
        out, state = self.rnn(self.drop(self.embed(input_ids)), None, cache)
        return self.head(self.drop(out)), state

    @staticmethod
    def reorder_cache(cache: State, rows: Tensor) -> State:
        """The state of rows `rows` (beam search); the batch is dimension 1 of h (and c)."""
        if isinstance(cache, Tensor):
            return cache.index_select(1, rows)
        return (cache[0].index_select(1, rows), cache[1].index_select(1, rows))


def build_rnn(cfg: RNNConfig, spec: TaskSpec, cell: str) -> nn.Module:
    """The LSTM/GRU model for `spec.kind`."""
    check_kind(cell, spec, (CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, QUESTION_ANSWERING))
    if spec.kind == QUESTION_ANSWERING:
        return EncoderQA(RNNClassifier(cfg, spec, cell, qa_outputs(spec)), spec)
    if spec.kind == CLASSIFICATION:
        return RNNClassifier(cfg, spec, cell)
    if spec.kind == LANGUAGE_MODELING:
        return RNNLanguageModel(cfg, spec, cell)
    return RNNSeq2Seq(cfg, spec, cell)


def build_lstm(cfg: LSTMConfig, *, spec: TaskSpec) -> nn.Module:
    """LSTM classifier, language model or attentional encoder-decoder (by task kind); packed, cuDNN."""
    return build_rnn(cfg, spec, "lstm")


def build_gru(cfg: GRUConfig, *, spec: TaskSpec) -> nn.Module:
    """GRU classifier, language model or attentional encoder-decoder (by task kind); packed, cuDNN."""
    return build_rnn(cfg, spec, "gru")
