"""Built-in model architectures (hf_*: Hugging Face adapters). Declared here with their schemas (`configs.py`,
`rnn_config.py`); a model's module, and torch, are imported only when a run builds it."""

from framework import MODELS

MODELS.declare("lstm", config="plugins.models.rnn_config:LSTMConfig", factory="plugins.models.rnn:build_lstm")
MODELS.declare("gru", config="plugins.models.rnn_config:GRUConfig", factory="plugins.models.rnn:build_gru")
MODELS.declare(
    "transformer_encoder",
    config="plugins.models.configs:TransformerEncoderConfig",
    factory="plugins.models.transformer_encoder:build_transformer_encoder",
)
MODELS.declare(
    "transformer_decoder",
    config="plugins.models.configs:TransformerDecoderConfig",
    factory="plugins.models.transformer_decoder:build_transformer_decoder",
)
MODELS.declare(
    "transformer_seq2seq",
    config="plugins.models.configs:TransformerSeq2SeqConfig",
    factory="plugins.models.transformer_seq2seq:build_transformer_seq2seq",
)
MODELS.declare("memn2n", config="plugins.models.configs:MemN2NConfig", factory="plugins.models.memn2n:build_memn2n")
MODELS.declare(
    "hf_encoder_classifier",
    config="plugins.models.configs:HFEncoderClassifierConfig",
    factory="plugins.models.hf_encoder_classifier:build_hf_encoder_classifier",
)
MODELS.declare(
    "hf_causal_lm",
    config="plugins.models.configs:HFCausalLMConfig",
    factory="plugins.models.hf_causal_lm:build_hf_causal_lm",
)
MODELS.declare(
    "hf_seq2seq", config="plugins.models.configs:HFSeq2SeqConfig", factory="plugins.models.hf_seq2seq:build_hf_seq2seq"
)
