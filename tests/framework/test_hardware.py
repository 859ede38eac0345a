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


@pytest.fixture
def no_cpuinfo(monkeypatch: pytest.MonkeyPatch):
    """A machine without /proc/cpuinfo (macOS, Windows): the answer must come from torch's own query."""
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(hardware, "_cpuinfo", lambda: "")
    hardware.torch_cpu_flags.cache_clear()
    yield monkeypatch
    hardware.torch_cpu_flags.cache_clear()


@pytest.mark.parametrize(
    ("caps", "native"),
    [({"avx2": True, "avx512_bf16": True}, True), ({"amx_bf16": True}, True), ({"bf16": True}, True),
     ({"avx512_f": True, "avx512_bf16": False, "sve_max_length": 256}, False)],
)  # fmt: skip
def test_without_cpuinfo_torch_capabilities_decide(no_cpuinfo: pytest.MonkeyPatch, caps: dict, native: bool) -> None:
    no_cpuinfo.setattr(torch.cpu, "get_capabilities", lambda: {"architecture": "x86_64", **caps})
    got, reason = cpu_bf16_native()
    assert got is native
    assert "torch's CPU query" in reason if native else "emulated" in reason


@pytest.mark.parametrize(("machine", "onednn", "native"), [("arm64", True, True), ("arm64", False, False),
                                                          ("x86_64", True, False)])  # fmt: skip
def test_an_older_torch_asks_onednn_on_arm_only(
    no_cpuinfo: pytest.MonkeyPatch, machine: str, onednn: bool, native: bool
) -> None:
    no_cpuinfo.delattr(torch.cpu, "get_capabilities", raising=False)
    no_cpuinfo.setattr(hardware.platform, "machine", lambda: machine)
    no_cpuinfo.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    assert cpu_bf16_native()[0] is native


def test_this_machine_agrees_with_torch_when_both_answer() -> None:
    if not hardware._cpuinfo() or not hasattr(torch.cpu, "get_capabilities"):
        pytest.skip("needs /proc/cpuinfo and torch.cpu.get_capabilities")
    flags = hardware.CPU_BF16_FLAGS
    assert bool(flags & hardware.cpu_flags()) == bool(flags & hardware.torch_cpu_flags())
