"""Capability queries: forced by PLAIT_CPU_BF16, read from CPU flags otherwise, per precision for `plait doctor`."""

from __future__ import annotations

import pytest
import torch

from framework import hardware
from framework.cli.commands.doctor import precision_support
from framework.hardware import CPU_BF16_ENV, cpu_bf16_native

CPU = torch.device("cpu")


def test_forced_capability_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    assert cpu_bf16_native() == (False, f"{CPU_BF16_ENV}=emulated")
    monkeypatch.setenv(CPU_BF16_ENV, "native")
    assert cpu_bf16_native()[0] is True
    monkeypatch.setenv(CPU_BF16_ENV, "fast")
    with pytest.raises(ValueError, match="native or emulated"):
        cpu_bf16_native()


@pytest.mark.parametrize(
    ("flags", "native"), [({"avx2", "fma"}, False), ({"avx2", "avx512_bf16"}, True), ({"amx_bf16"}, True)]
)
def test_cpu_flags_decide(monkeypatch: pytest.MonkeyPatch, flags: set[str], native: bool) -> None:
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    got, reason = cpu_bf16_native()
    assert got is native
    assert ("avx512_bf16" in reason or "amx_bf16" in reason) if native else "emulated" in reason


def test_precision_support_lists_every_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.kinds import PRECISIONS

    monkeypatch.setenv(CPU_BF16_ENV, "emulated")
    rows = {r.name: r for r in precision_support(CPU)}
    assert set(rows) == set(PRECISIONS.names())
    assert rows["fp32"].mode == "native" and rows["fp64_master"].mode == "native"
    assert rows["amp_bf16"].mode == "emulated" and rows["bf16"].mode == "emulated"
    assert rows["fp8"].mode == "unusable" and "compute capability" in rows["fp8"].detail
    assert rows["auto"].detail.startswith("picks fp32")
