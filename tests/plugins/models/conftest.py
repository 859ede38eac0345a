"""Parametrises the model contract tests over every registered model key, as MODEL_CASES declares it.

`model_key` runs once per registered model; `model_case` once per (model, supported task kind);
`<kind>_case` (e.g. `seq2seq_case`) once per model supporting that kind.
A registered model missing from MODEL_CASES still gets its tests, which fail and say what to add;
an entry with `skip` is the only way to leave a model out, and its reason shows in the report.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tiny_models import KINDS, MODEL_CASES, ModelCase, registered_models

torch.set_num_threads(1)  # the CPU is shared; tiny models gain nothing from more threads


def _param(value: Any, key: str, ident: str) -> Any:
    case = MODEL_CASES.get(key)
    marks = [pytest.mark.skip(reason=f"MODEL_CASES['{key}'].skip: {case.skip}")] if case and case.skip else []
    return pytest.param(value, id=ident, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Fill `model_key` / `model_case` arguments from the registry and MODEL_CASES."""
    keys = registered_models()
    if "model_key" in metafunc.fixturenames:
        metafunc.parametrize("model_key", [_param(key, key, key) for key in keys])
    if "model_case" in metafunc.fixturenames:
        params = []
        for key in keys:
            kinds = MODEL_CASES[key].kinds if key in MODEL_CASES else ("no-case",)
            params += [_param((key, kind), key, f"{key}-{kind}") for kind in kinds]
        metafunc.parametrize("model_case", params)
    for kind in KINDS:
        if f"{kind}_case" in metafunc.fixturenames:
            keys_of_kind = [k for k in keys if kind in MODEL_CASES.get(k, ModelCase(KINDS)).kinds]
            metafunc.parametrize(f"{kind}_case", [_param(k, k, k) for k in keys_of_kind])
