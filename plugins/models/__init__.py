"""Built-in model architectures; importing a module registers its models (hf_*: Hugging Face adapters)."""

from plugins.models import (  # noqa: F401
    hf_causal_lm,
    hf_encoder_classifier,
    hf_seq2seq,
    memn2n,
    rnn,
    transformer_decoder,
    transformer_encoder,
    transformer_seq2seq,
)
