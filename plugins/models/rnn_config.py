"""The options of the recurrent models (`model=lstm`, `model=gru`), below both the classifier/LM heads (`rnn.py`)
and the attentional encoder-decoder (`rnn_seq2seq.py`) that read them. No torch here: `plait list` reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, Choice, at_least, between
from plugins.models.configs import EmbeddingConfig


class RNNPooling(Choice):
    """How the recurrent classifier turns token states into one vector (`model.pooling`)."""

    mean = "mean"
    max = "max"
    last = "last"


class RNNAttention(Choice):
    """The seq2seq decoder's attention over the encoder states (`model.attention`)."""

    luong = "luong"
    bahdanau = "bahdanau"


class LuongScore(Choice):
    """Luong attention's score function (`model.luong_score`)."""

    general = "general"
    dot = "dot"


POOLINGS = RNNPooling.values()


@dataclass
class RNNConfig(EmbeddingConfig):
    """Size and shape of a recurrent model; options of other heads are ignored."""

    d_model: int = 128  # token embedding width
    d_hidden: int = 256  # recurrent state width, per direction
    n_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # encoder side (classification, seq2seq source); language models need false
    dropout: float = 0.1  # on embeddings, between layers and before the output layer
    tie_embeddings: bool = False  # LM / seq2seq: output layer shares the input embedding (d_hidden == d_model)
    pooling: RNNPooling = RNNPooling.mean  # classification: mean / max over real tokens, last: final state
    attention: RNNAttention = RNNAttention.luong  # seq2seq: luong (Luong 2015), bahdanau (additive, 2015)
    luong_score: LuongScore = LuongScore.general  # luong: general (h^T W m), dot (h^T m, equal widths)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 1, "d_model", "d_hidden", "n_layers")
        between(self, "dropout", 0, 1, high_open=True)


@dataclass
class LSTMConfig(RNNConfig):
    """LSTM model options (cuDNN nn.LSTM)."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests (framework.testing.ModelContract): every task kind."""
        if kind not in (None, CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ):
            return None
        return {"d_model": 16, "d_hidden": 16, "n_layers": 2, "bidirectional": kind != LANGUAGE_MODELING}


@dataclass
class GRUConfig(RNNConfig):
    """GRU model options (cuDNN nn.GRU)."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: every task kind; seq2seq with additive attention."""
        if kind not in (None, CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ):
            return None
        return {
            "d_model": 16,
            "d_hidden": 16,
            "n_layers": 2,
            "bidirectional": kind != LANGUAGE_MODELING,
            **({"attention": "bahdanau"} if kind == SEQ2SEQ else {}),
        }
