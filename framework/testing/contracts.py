"""The contract suites' former single module, kept so that tests importing `framework.testing.contracts`
(the documented path until the suites were split one module per kind) still work. Import from
`framework.testing` instead."""

from framework.testing.callbacks import CallbackContract
from framework.testing.components import tiny_config
from framework.testing.loggers import LoggerContract
from framework.testing.model_data import (
    BOS,
    EOS,
    KINDS,
    N_CLASSES,
    PAD,
    TARGET_VOCAB,
    VOCAB,
    contract_batch,
    copy_seq2seq,
    counting_lm,
    keep_mask,
    signal_classification,
    spec_for,
)
from framework.testing.models import ModelContract, build_model, expected_shape, loss_of, run, train_losses
from framework.testing.optimizers import OptimizerContract
from framework.testing.precision import PrecisionContract
from framework.testing.schedulers import SchedulerContract
from framework.testing.tokenizers import TokenizerContract, tokenizer_corpus

__all__ = [
    "BOS",
    "EOS",
    "KINDS",
    "N_CLASSES",
    "PAD",
    "TARGET_VOCAB",
    "VOCAB",
    "CallbackContract",
    "LoggerContract",
    "ModelContract",
    "OptimizerContract",
    "PrecisionContract",
    "SchedulerContract",
    "TokenizerContract",
    "build_model",
    "contract_batch",
    "copy_seq2seq",
    "counting_lm",
    "expected_shape",
    "keep_mask",
    "loss_of",
    "run",
    "signal_classification",
    "spec_for",
    "tiny_config",
    "tokenizer_corpus",
    "train_losses",
]
