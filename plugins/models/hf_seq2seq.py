"""Hugging Face encoder-decoder (T5 shape from scratch, or any local seq2seq checkpoint) on plait's seq2seq contract."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from framework import SEQ2SEQ, TaskSpec
from plugins.models.configs import HFSeq2SeqConfig
from plugins.models.hf_common import HFModel, build_or_load, special_ids
from plugins.models.kinds import check_kind


class HFSeq2Seq(HFModel):
    """One embedding table shared by source and target ids; logits are cut to the target vocabulary.

    forward(src_ids (B, S), src_mask (B, S) bool, tgt_in (B, T)) -> logits (B, T, target vocab)
    decode_cached(tgt_new (B, T), memory, src_mask, cache | None) -> (logits, cache): the decoder continued from
        the model's key/value cache (one position per step); `reorder_cache` follows beam search's choices.
    """

    def __init__(self, hf: Any, target_vocab_size: int) -> None:
        super().__init__(hf)
        self.target_vocab_size = target_vocab_size

    def forward(self, src_ids: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        return self.decode(tgt_in, self.encode(src_ids, src_mask), src_mask)

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor:
        """Encoder states (B, S, d_model) of the source."""
        states: Tensor = self.hf.get_encoder()(input_ids=src_ids, attention_mask=src_mask.long()).last_hidden_state
        return states

    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor:
        """Logits (B, T, target vocab) of each next target token given the encoder states."""
        logits: Tensor = self.hf(**decoder_inputs(tgt_in, memory, src_mask), use_cache=False).logits
        return logits[..., : self.target_vocab_size]

    def decode_cached(self, tgt_new: Tensor, memory: Tensor, src_mask: Tensor, cache: Any) -> tuple[Tensor, Any]:
        """tgt_new (B, T) following the positions in `cache` (None at first) -> (logits, the longer cache)."""
        logits, cache = self.cached_call(cache, **decoder_inputs(tgt_new, memory, src_mask))
        return logits[..., : self.target_vocab_size], cache


def decoder_inputs(tgt: Tensor, memory: Tensor, src_mask: Tensor) -> dict[str, Any]:
    """Keyword arguments of a transformers encoder-decoder's forward that run only its decoder on `memory`."""
    from transformers.modeling_outputs import BaseModelOutput

    return {
        "encoder_outputs": BaseModelOutput(last_hidden_state=memory),
        "attention_mask": src_mask.long(),
        "decoder_input_ids": tgt,
    }


def t5_config(cfg: HFSeq2SeqConfig, spec: TaskSpec, vocab_size: int) -> Any:
    """A transformers T5Config with plait's size fields."""
    from transformers import T5Config

    ids = special_ids(spec)
    start = ids["bos_token_id"] if ids["bos_token_id"] is not None else spec.pad_id
    # T5Config stores fields beyond its signature (bos_token_id, decoder_start_token_id) but does not declare them
    extra: dict[str, Any] = {"decoder_start_token_id": start, **ids}
    return T5Config(
        vocab_size=vocab_size,
        d_model=cfg.d_model,
        d_kv=cfg.d_model // cfg.n_heads,
        d_ff=cfg.d_ff,
        num_layers=cfg.n_layers,
        num_decoder_layers=cfg.n_layers,
        num_heads=cfg.n_heads,
        dropout_rate=cfg.dropout,
        **extra,
    )


def build_hf_seq2seq(cfg: HFSeq2SeqConfig, *, spec: TaskSpec) -> HFSeq2Seq:
    """Hugging Face encoder-decoder: T5 architecture from our sizes, or a local pretrained directory."""
    check_kind("hf_seq2seq", spec, (SEQ2SEQ,))
    target = spec.target_vocab_size or spec.vocab_size
    vocab_size = max(spec.vocab_size, target)
    hf = build_or_load(
        cfg,
        vocab_size=vocab_size,
        auto_class="AutoModelForSeq2SeqLM",
        model_class="T5ForConditionalGeneration",
        make_config=lambda: t5_config(cfg, spec, vocab_size),
    )
    return HFSeq2Seq(hf, target)
