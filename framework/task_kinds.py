"""The built-in task kinds (`TaskSpec.kind`) and the names of validation splits, in a module that imports no torch: model config schemas name them
(which kinds a model's `tiny()` options cover) and are read by `plait list` and `--help` without torch."""

from __future__ import annotations

import re
from collections.abc import Iterable

from framework.errors import ConfigValueError

# Task kinds, and the forward contract a model for each kind follows (shapes: B batch, T/S lengths):
#   classification:     model(input_ids (B,T) long, attention_mask (B,T) bool) -> logits (B, n_classes)
#   language_modeling:  model(input_ids (B,T) long, attention_mask (B,T) bool | None) -> logits (B, T, vocab)
#                       optional: model.forward_cached(input_ids, cache) -> (logits, cache) for fast decoding,
#                                 model.reorder_cache(cache, rows) -> cache for beam search
#   seq2seq:            model(src_ids (B,S), src_mask (B,S) bool, tgt_in (B,T)) -> logits (B, T, target vocab)
#                       and model.encode(src_ids, src_mask) -> memory,
#                           model.decode(tgt_in, memory, src_mask) -> logits (B, T, target vocab)
#                       optional: model.decode_cached(tgt_new, memory, src_mask, cache) -> (logits, cache) and
#                                 model.reorder_cache(cache, rows) -> cache: beam search feeds one token per step
#   question_answering, format "babi" (story form, answer selection):
#       model(story_ids (B, N, L) long, question_ids (B, Q) long) -> answer logits (B, spec.n_classes)
#       The story is N sentences (oldest first, padded at the end with all-pad sentences) of L tokens each:
#       a memory network stores one memory per sentence and encodes time by sentence index, which a flat
#       sequence would lose; a flat encoder gets one sequence back with
#       plugins.models.kinds.flatten_story(story, question, pad_id).
#   question_answering, format "squad" (span form, extractive):
#       model(input_ids (B, T) long, attention_mask (B, T) bool) -> (start_logits (B, T), end_logits (B, T))
#       input_ids = [cls] question [sep] context window [sep]; the task masks non-context positions.
#       (the form is spec.extra["format"]; padding is spec.pad_id)
# Masks are True on real tokens; padding is on the right.
CLASSIFICATION = "classification"
LANGUAGE_MODELING = "language_modeling"
SEQ2SEQ = "seq2seq"
QUESTION_ANSWERING = "question_answering"

VAL = "val"  # the main validation split; an extra validation set `name` is the split `val/<name>`
_VAL_SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def extra_val_split(name: str) -> str:
    """The split of the extra validation set `name`: `val/<name>`, whose metrics are logged as `val/<name>/<metric>`."""
    return f"{VAL}/{name}"


def extra_val_splits(splits: Iterable[str]) -> list[str]:
    """The extra validation sets among a task's `splits` (the `val/<name>` ones), in their order."""
    return [s for s in splits if s.startswith(f"{VAL}/")]


def check_val_set_names(names: Iterable[str], key: str = "extra_val_paths") -> None:
    """Names of extra validation sets become metric names (`val/<name>/...`): letters, digits, `_`, `.`, `-` only
    (`key`: the config field holding them, as a schema's `validate` names it)."""
    for name in names:
        if not _VAL_SET_NAME.fullmatch(str(name)):
            raise ConfigValueError(
                f"{key}.{name}",
                ": a validation set's name is part of its metric names (val/<name>/<metric>); use letters, digits, "
                "'_', '.' or '-' (for example test_2016)",
            )
