"""Plait's public API: everything a plugin needs, and all that the built-in plugins import.

Plugin authors import from here (`from framework import MODELS, ComponentConfig, TaskSpec`) and test with
`framework.testing`; every other module of the package is internal and may move. Names load on first use,
so `plait --help` stays fast; the `TYPE_CHECKING` block gives type checkers the same names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    # errors and config schemas (the bottom of the core)
    "framework.errors": [
        "ConfigValueError", "DataError", "DiskWriteError", "DuplicateComponentError", "InsufficientMemoryError",
        "NonFiniteError", "PlaitError", "UnknownComponentError", "UnsupportedPrecisionError",
    ],
    "framework.files": ["CACHE_ENV", "atomic_write", "cache_root", "fsync_dir"],
    "framework.schema": ["NAME_FIELD", "Choice", "ComponentConfig", "above", "at_least", "between", "divides", "require"],
    # registries: one per kind
    "framework.registry": ["Registry"],
    "framework.providers": ["PluginInfo"],
    "framework.kinds": [
        "CALLBACKS", "LOGGERS", "MODELS", "OPTIMIZERS", "PRECISIONS", "REGISTRIES", "SCHEDULERS", "TASKS", "TOKENIZERS",
    ],
    "framework.plugins": ["PLAIT_API"],
    # the kinds' contracts and what their implementations share
    "framework.task_kinds": [
        "CLASSIFICATION", "LANGUAGE_MODELING", "QUESTION_ANSWERING", "SEQ2SEQ", "VAL", "check_val_set_names",
        "extra_val_split", "extra_val_splits",
    ],
    "framework.task": [
        "Answerer", "Batch", "Partials", "Predictor", "Task", "TaskSpec", "TextGenerator", "TokenBatcher",
        "TokenizerFactory", "Translator", "model_device",
    ],
    "framework.tokenizer": ["SPECIAL_TOKENS", "Tokenizer", "directory_digest", "special_token_ids"],
    "framework.precision": ["PrecisionStrategy", "grad_norm", "params_of"],
    "framework.callback": ["WEIGHT_SETS", "Callback", "Evaluator", "TrainState"],
    "framework.logger": ["Logger", "flat_config"],
    "framework.capabilities": [
        "EXPORTS_TO_TRANSFORMERS", "REFERENCE_PRECISION", "has_capability", "init_only_fields", "with_capability",
    ],
    "framework.params": ["param_groups"],
    "framework.hardware": ["cpu_bf16_native", "cuda_bf16_native", "dtype_native"],
    "framework.secrets": ["looks_like_secret", "scrub_argv", "scrub_config"],
    # reading users' data: split sources, streaming readers
    "framework.data.formats": ["DataFormat", "detect_format"],
    "framework.data.sources": [
        "DataFile", "compression", "describe_files", "is_pattern", "record_split", "source_files", "split_files",
    ],
    "framework.data.records": ["Row", "batched"],
    "framework.data.lines": ["text_blocks"],
    "framework.data.pieces": ["PIECE_CHARS", "text_pieces"],
    "framework.data.readers": ["documents", "read_parallel_rows", "read_rows", "text_lines"],
    "framework.data.hf_disk": ["load_hf_dataset"],
    "framework.data.text_files": ["read_lines", "read_utf8"],
    "framework.data.token_store": ["Ragged", "StoreMeta", "TokenStore", "token_dtype"],
    "framework.data.store_writer": ["TokenStoreWriter"],
    "framework.data.token_budget": ["budget_batches", "padded_tokens"],
    "framework.data.prepare": ["prepare_store"],
    "framework.data.text_table": ["TextColumn", "TextTable", "TextTableWriter", "prepare_table"],
    "framework.data.encode": ["ENCODE_BATCH", "encode_batches", "limit_bytes"],
    "framework.data.progress": ["Progress"],
    "framework.sampling": ["sample_next", "sample_tokens"],
    # what the engine lends to plugins: the run's config schema, collectives, numerics probes, objective direction
    "framework.engine.config": ["TrainConfig", "TrainerConfig"],
    "framework.engine.distributed": ["any_rank", "is_main", "rank", "world_size"],
    "framework.engine.numerics": ["NumericsProbe"],
    "framework.engine.phases": ["precision_phase"],
    "framework.engine.monitor": ["lower_is_better"],
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # the same names, for type checkers (at run time they load lazily below)
    from framework.callback import WEIGHT_SETS, Callback, Evaluator, TrainState
    from framework.capabilities import (
        EXPORTS_TO_TRANSFORMERS,
        REFERENCE_PRECISION,
        has_capability,
        init_only_fields,
        with_capability,
    )
    from framework.data.encode import ENCODE_BATCH, encode_batches, limit_bytes
    from framework.data.formats import DataFormat, detect_format
    from framework.data.hf_disk import load_hf_dataset
    from framework.data.lines import text_blocks
    from framework.data.pieces import PIECE_CHARS, text_pieces
    from framework.data.prepare import prepare_store
    from framework.data.progress import Progress
    from framework.data.readers import documents, read_parallel_rows, read_rows, text_lines
    from framework.data.records import Row, batched
    from framework.data.sources import (
        DataFile,
        compression,
        describe_files,
        is_pattern,
        record_split,
        source_files,
        split_files,
    )
    from framework.data.store_writer import TokenStoreWriter
    from framework.data.text_files import read_lines, read_utf8
    from framework.data.text_table import TextColumn, TextTable, TextTableWriter, prepare_table
    from framework.data.token_budget import budget_batches, padded_tokens
    from framework.data.token_store import Ragged, StoreMeta, TokenStore, token_dtype
    from framework.engine.config import TrainConfig, TrainerConfig
    from framework.engine.distributed import any_rank, is_main, rank, world_size
    from framework.engine.monitor import lower_is_better
    from framework.engine.numerics import NumericsProbe
    from framework.engine.phases import precision_phase
    from framework.errors import (
        ConfigValueError,
        DataError,
        DiskWriteError,
        DuplicateComponentError,
        InsufficientMemoryError,
        NonFiniteError,
        PlaitError,
        UnknownComponentError,
        UnsupportedPrecisionError,
    )
    from framework.files import CACHE_ENV, atomic_write, cache_root, fsync_dir
    from framework.hardware import cpu_bf16_native, cuda_bf16_native, dtype_native
    from framework.kinds import (
        CALLBACKS,
        LOGGERS,
        MODELS,
        OPTIMIZERS,
        PRECISIONS,
        REGISTRIES,
        SCHEDULERS,
        TASKS,
        TOKENIZERS,
    )
    from framework.logger import Logger, flat_config
    from framework.params import param_groups
    from framework.plugins import PLAIT_API
    from framework.precision import PrecisionStrategy, grad_norm, params_of
    from framework.providers import PluginInfo
    from framework.registry import Registry
    from framework.sampling import sample_next, sample_tokens
    from framework.schema import NAME_FIELD, Choice, ComponentConfig, above, at_least, between, divides, require
    from framework.secrets import looks_like_secret, scrub_argv, scrub_config
    from framework.task import (
        Answerer,
        Batch,
        Partials,
        Predictor,
        Task,
        TaskSpec,
        TextGenerator,
        TokenBatcher,
        TokenizerFactory,
        Translator,
        model_device,
    )
    from framework.task_kinds import (
        CLASSIFICATION,
        LANGUAGE_MODELING,
        QUESTION_ANSWERING,
        SEQ2SEQ,
        VAL,
        check_val_set_names,
        extra_val_split,
        extra_val_splits,
    )
    from framework.tokenizer import SPECIAL_TOKENS, Tokenizer, directory_digest, special_token_ids


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'framework' has no attribute '{name}'")
