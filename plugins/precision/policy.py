"""Per-module precision policy: keep chosen modules in fp32 on top of any strategy.

Patterns match a module's qualified name (`blocks.0.norm1`) or its class name (`LayerNorm`) as
globs; a pattern starting with `re:` is a regular expression on the qualified name. A kept module
holds fp32 parameters, receives fp32 inputs, runs with autocast disabled, and hands its output back
in the model's compute dtype (pure low-precision strategies) or as fp32 (autocast strategies).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import torch
from torch import nn


def matches(name: str, module: nn.Module, patterns: list[str]) -> bool:
    """True when `patterns` select the module called `name`."""
    for pattern in patterns:
        if pattern.startswith("re:"):
            if re.fullmatch(pattern[3:], name):
                return True
        elif fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(type(module).__name__, pattern):
            return True
    return False


def cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    """`obj` with every floating tensor inside (nested tuples, lists, dicts) cast to `dtype`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() and obj.dtype != dtype else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(cast_floats(v, dtype) for v in obj)
    if isinstance(obj, dict):
        return {k: cast_floats(v, dtype) for k, v in obj.items()}
    return obj


def cast_inputs(model: nn.Module, dtype: torch.dtype) -> None:
    """Cast the model's floating inputs to `dtype` (pure low-precision models fed fp32 features)."""
    model.register_forward_pre_hook(lambda m, args, kwargs: (cast_floats(args, dtype), cast_floats(kwargs, dtype)),
                                    with_kwargs=True)  # fmt: skip


def keep_fp32(
    model: nn.Module, patterns: list[str], *, device_type: str, output_dtype: torch.dtype | None
) -> list[str]:
    """Keep the outermost modules that `patterns` select in fp32; returns their names.

    `output_dtype`: dtype the kept module's floating outputs are cast to (None leaves them fp32).
    """
    kept: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(k + ".") for k in kept) or not matches(name, module, patterns):
            continue
        kept.append(name)
        module.float()
        contexts: list[torch.autocast] = []

        def enter(m: nn.Module, args: Any, kwargs: Any, _contexts: list[torch.autocast] = contexts) -> tuple[Any, Any]:
            ctx = torch.autocast(device_type, enabled=False)
            ctx.__enter__()
            _contexts.append(ctx)
            return cast_floats(args, torch.float32), cast_floats(kwargs, torch.float32)

        def leave(m: nn.Module, args: Any, output: Any, _contexts: list[torch.autocast] = contexts) -> Any:
            _contexts.pop().__exit__(None, None, None)
            return output if output_dtype is None else cast_floats(output, output_dtype)

        module.register_forward_pre_hook(enter, with_kwargs=True)
        module.register_forward_hook(leave, always_call=True)
    return kept
