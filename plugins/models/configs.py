"""The built-in models' config schemas, in a module that imports no torch: `plait list`, `describe` and `--help`
read them without importing the models (declared in `plugins/models/__init__.py`). The recurrent models' are in
`rnn_config.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from framework import (
    CLASSIFICATION,
    EXPORTS_TO_TRANSFORMERS,
    LANGUAGE_MODELING,
    QUESTION_ANSWERING,
    SEQ2SEQ,
    Choice,
    ComponentConfig,
    at_least,
    between,
    divides,
    require,
)


@dataclass
class EmbeddingConfig(ComponentConfig):
    """Options shared by every model with an input embedding."""

    init_only_fields: ClassVar[tuple[str, ...]] = ("pretrained_embeddings",)  # a reopened run loads its weights

    pretrained_embeddings: Optional[str] = None  # GloVe/word2vec text file (.txt, or .zip[::member]); null: random
    freeze_embeddings: bool = False  # keep the input embedding fixed while training


class Positional(Choice):
    """How a transformer knows where a token sits (`model.positional`)."""

    learned = "learned"
    sinusoidal = "sinusoidal"
    rope = "rope"


class AttentionKernel(Choice):
    """Which SDPA kernel attention runs on (`model.attention_kernel`)."""

    auto = "auto"  # training on CPU: with dropout `math_attention`, else in bf16 SDPA's math kernel; else torch's
    torch = "torch"  # torch's own pick: flash / memory-efficient / math
    math = "math"  # SDPA's unfused reference kernel: batched matmuls around a softmax


class DropoutKernel(Choice):
    """How dropout draws its mask (`model.dropout_kernel`)."""

    auto = "auto"  # on CPU from 16 random bits per value (plugins/models/dropout.py: 2x faster), else torch's
    torch = "torch"  # torch's dropout everywhere (on CPU: bernoulli_, a double per value)


@dataclass
class TransformerConfig(EmbeddingConfig):
    """Options shared by the transformer models."""

    d_model: int = 128  # width of token representations
    n_layers: int = 2  # transformer blocks (the encoder's, for seq2seq)
    n_heads: int = 4  # attention heads (d_model must divide by it)
    d_ff: int = 256  # hidden width of the feed-forward layers
    dropout: float = 0.1  # dropout on embeddings, attention, residual and feed-forward paths
    positional: Positional = Positional.learned  # learned | sinusoidal (added to embeddings) | rope (rotates q and k)
    max_length: int = 512  # longest input, in tokens
    norm_eps: float = 1e-5  # LayerNorm epsilon
    activation_checkpointing: bool = False  # training: keep only each block's input, recompute the rest in backward
    attention_kernel: AttentionKernel = AttentionKernel.auto  # auto (math for bf16 training on CPU) | torch | math
    dropout_kernel: DropoutKernel = DropoutKernel.auto  # auto (mask from random bits on CPU) | torch

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 1, "d_model", "n_layers", "n_heads", "d_ff", "max_length")
        divides(self, "n_heads", "d_model")
        between(self, "dropout", 0, 1, high_open=True)
        between(self, "norm_eps", 0, 1, low_open=True)
        head = self.d_model // self.n_heads
        require(
            self.positional != Positional.rope or head % 2 == 0,
            "positional",
            self.positional.value,
            f"learned or sinusoidal with an odd head width (d_model/n_heads = {head}); rope needs an even one",
        )


@dataclass
class TransformerDecoderConfig(TransformerConfig):
    """Size and shape of the causal language model."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: language modeling only."""
        if kind not in (None, LANGUAGE_MODELING):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 2, "max_length": 32, "positional": "rope"}

    tie_embeddings: bool = True  # the output projection shares the input embedding matrix


class EncoderPooling(Choice):
    """How the encoder classifier turns token states into one vector (`model.pooling`)."""

    cls = "cls"
    mean = "mean"


@dataclass
class TransformerEncoderConfig(TransformerConfig):
    """Size and shape of the encoder classifier."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: classification only."""
        if kind not in (None, CLASSIFICATION):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 2, "max_length": 32}

    pooling: EncoderPooling = EncoderPooling.cls  # cls (a learned [CLS] vector prepended) | mean (over non-pad tokens)


@dataclass
class TransformerSeq2SeqConfig(TransformerConfig):
    """Size and shape of the encoder-decoder."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: seq2seq only."""
        if kind not in (None, SEQ2SEQ):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 2, "max_length": 32, "positional": "sinusoidal"}

    n_decoder_layers: Optional[int] = None  # decoder blocks; null: as many as n_layers
    share_embeddings: bool = True  # one embedding for source and target when the task has one vocabulary
    tie_embeddings: bool = True  # the output projection shares the decoder's input embedding

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        super().validate()
        at_least(self, 1, "n_decoder_layers")


@dataclass
class HFModelConfig(ComponentConfig):
    """Options shared by every hf_* model: a local pretrained directory, or sizes to build from scratch."""

    capabilities: ClassVar[frozenset[str]] = frozenset({EXPORTS_TO_TRANSFORMERS})  # `plait export` works

    pretrained: Optional[str] = None  # local directory written by save_pretrained (never the hub); null: build new
    n_layers: int = 2  # transformer blocks (per stack for encoder-decoders); from-scratch only
    n_heads: int = 4  # attention heads (d_model must divide by it); from-scratch only
    d_model: int = 128  # width of token representations; from-scratch only
    d_ff: int = 512  # hidden width of the feed-forward layers; from-scratch only
    dropout: float = 0.1  # dropout on embeddings, attention and residual paths; from-scratch only
    max_length: Optional[int] = None  # size of the position table; null: the task's max_length; from-scratch only
    activation_checkpointing: bool = False  # training: recompute activations in backward (gradient checkpointing)

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 1, "n_layers", "n_heads", "d_model", "d_ff", "max_length")
        divides(self, "n_heads", "d_model")
        between(self, "dropout", 0, 1, high_open=True)


@dataclass
class HFCausalLMConfig(HFModelConfig):
    """A GPT-2-shaped decoder built from the size fields, or `pretrained` loaded with AutoModelForCausalLM."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: language modeling only."""
        if kind not in (None, LANGUAGE_MODELING):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


@dataclass
class HFSeq2SeqConfig(HFModelConfig):
    """A T5-shaped encoder-decoder (relative positions, so max_length is unused) or `pretrained` via AutoModelForSeq2SeqLM."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: seq2seq only."""
        if kind not in (None, SEQ2SEQ):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


@dataclass
class HFEncoderClassifierConfig(HFModelConfig):
    """A BERT-shaped encoder built from the size fields, or `pretrained` loaded with a fresh head for the task."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests: classification; question answering is tested in test_hf_qa.py."""
        if kind not in (None, CLASSIFICATION, QUESTION_ANSWERING):
            return None
        return {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


@dataclass
class MemN2NConfig(ComponentConfig):
    """Width, hops and encodings of the end-to-end memory network."""

    @classmethod
    def tiny(cls, kind: str | None) -> dict[str, Any] | None:
        """Tiny options for the contract tests; its one kind (question answering) is tested in test_memn2n.py."""
        return {"d_model": 8, "hops": 2} if kind in (None, QUESTION_ANSWERING) else None

    d_model: int = 50  # embedding width d (the paper: 20 per task, 50 for joint training)
    hops: int = 3  # memory hops K
    position_encoding: bool = True  # PE word weights (false: bag of words)
    temporal_encoding: bool = True  # learned per-recency memory vectors
    linear_start_steps: int = 0  # LS: training forward passes without the memory softmax; 0 disables it
    linear_start_form: str = "plain"  # LS attention: plain (the paper, u.m) | taylor (softmax's linear form)
    random_noise: float = 0.0  # RN, training only: chance of an empty memory after each sentence (paper: 0.1)
    init_std: float = 0.1  # embeddings are drawn from N(0, init_std), as in the paper
