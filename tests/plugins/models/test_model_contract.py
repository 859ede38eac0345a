"""Every registered model runs through framework.testing.contracts.ModelContract, once per task kind it supports.

The kinds and tiny sizes come from each model's own config (`Config.tiny(kind)`, None for an unsupported
kind), exactly as a plugin's model declares them; a registered model without `tiny` fails and says so.
"""

from __future__ import annotations

import pytest

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.plugins import load_plugins
from framework.task import QUESTION_ANSWERING
from framework.testing.contracts import KINDS, ModelContract, build_model, tiny_config

load_plugins()
BUILT_IN = ["lstm", "gru", "transformer_encoder", "transformer_decoder", "transformer_seq2seq"]


def supported_kinds(key: str) -> list[str]:
    """Task kinds model `key` declares through `Config.tiny(kind)`."""
    return [kind for kind in KINDS if tiny_config(MODELS, key, kind) is not None]


for _key in MODELS.names():
    for _kind in supported_kinds(_key):
        _name = f"Test_{_key.replace('.', '_')}_{_kind}"
        globals()[_name] = type(_name, (ModelContract,), {"key": _key, "kind": _kind, "__module__": __name__})


@pytest.mark.parametrize("key", MODELS.names())
def test_every_model_declares_tiny_options(key: str) -> None:
    tiny = getattr(MODELS.config_class(key), "tiny", None)
    assert tiny is not None, (
        f"model '{key}': add `@classmethod def tiny(cls, kind) -> dict | None` to {MODELS.config_class(key).__name__} "
        "(tiny options for the contract tests; None for a task kind it does not support)"
    )
    kinds = supported_kinds(key) or [k for k in (QUESTION_ANSWERING,) if tiny_config(MODELS, key, k) is not None]
    assert kinds, f"model '{key}' supports no task kind"  # question answering models have their own tests


@pytest.mark.parametrize("key", MODELS.names())
def test_unsupported_kinds_raise_plait_error(key: str) -> None:
    for kind in [k for k in KINDS if k not in supported_kinds(key)]:
        with pytest.raises(PlaitError):
            build_model(key, kind)


@pytest.mark.parametrize("key", BUILT_IN)
def test_kind_errors_name_the_supported_kinds(key: str) -> None:
    with pytest.raises(PlaitError) as err:
        build_model(key, "no_such_kind")
    assert all(kind in str(err.value) for kind in supported_kinds(key)), str(err.value)
