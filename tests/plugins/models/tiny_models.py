"""Shared helpers of the model tests; they live in framework.testing.contracts so plugin tests get them too.

Tiny sizes are no longer a central table: each model's config declares them (`Config.tiny(kind)`).
"""

from __future__ import annotations

from framework.testing.contracts import (  # noqa: F401  (re-exported for the model tests)
    BOS,
    KINDS,
    N_CLASSES,
    PAD,
    TARGET_VOCAB,
    VOCAB,
    contract_batch,
    copy_seq2seq,
    counting_lm,
    expected_shape,
    keep_mask,
    loss_of,
    run,
    signal_classification,
    spec_for,
    train_losses,
)
from framework.testing.contracts import build_model as build  # noqa: F401
