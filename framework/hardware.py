"""What this device computes fast: native vs emulated low-precision arithmetic, per device.

`precision=auto` asks `cpu_bf16_native()` / `cuda_bf16_native()` to pick a strategy, and
`plait doctor` lists every registered precision as usable here, native or emulated, from these answers. On CPU the answer comes from the instruction-set flags the kernel reports
(/proc/cpuinfo; where it is absent, as on macOS and Windows, torch's own CPU query): free, deterministic and
immune to a busy neighbour, unlike a micro-benchmark, which on a shared machine could flip the choice between
two runs of the same command. Tests force the answer with
the environment variable PLAIT_CPU_BF16=native|emulated (read on every call).
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

import torch

CPU_BF16_ENV = "PLAIT_CPU_BF16"
# x86: AVX512-BF16 (Cooper Lake, Zen 4+) and AMX-BF16 (Sapphire Rapids+) run bf16 dot products in hardware.
# aarch64: the BF16 extension (ARMv8.6: Graviton 3, Neoverse V1+) reports "bf16".
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
CPU_FP16_FLAGS = frozenset({"avx512_fp16", "amx_fp16", "fphp", "fp16_arith"})  # fp16_arith: torch's Arm name


@functools.cache
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_flags() -> frozenset[str]:
    """Instruction-set flags of this CPU (x86 `flags`, Arm `Features`); torch's query where /proc/cpuinfo is absent."""
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return torch_cpu_flags()


@functools.cache
def torch_cpu_flags() -> frozenset[str]:
    """The features torch's cpuinfo finds (`torch.cpu.get_capabilities()`, named as Linux names them:
    avx512_bf16, amx_bf16, Arm bf16); with an older torch, oneDNN's bf16 check on Arm (reported as `bf16`)."""
    query = getattr(torch.cpu, "get_capabilities", None)
    if query is not None:
        return frozenset(name for name, value in query().items() if value is True)
    arm = platform.machine().lower() in ("arm64", "aarch64")  # on x86 oneDNN also says yes for AVX-512 without bf16
    return frozenset({"bf16"}) if arm and torch.ops.mkldnn._is_mkldnn_bf16_supported() else frozenset()


def cpu_name() -> str:
    """The CPU model, for messages and benchmark reports."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_bf16_native() -> tuple[bool, str]:
    """Whether bf16 matmuls run in hardware on this CPU, and why we think so."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    if forced in ("native", "emulated"):
        return forced == "native", f"{CPU_BF16_ENV}={forced}"
    if forced:
        raise ValueError(f"{CPU_BF16_ENV}={forced!r}: use native or emulated (or unset it)")
    found = sorted(CPU_BF16_FLAGS & cpu_flags())
    if found:
        source = "" if _cpuinfo() else " (torch's CPU query)"
        return True, f"this CPU has {'/'.join(found)}{source}: bf16 matmuls run in hardware"
    return False, "this CPU has no AVX512-BF16/AMX-BF16/Arm BF16: bf16 is emulated in fp32 (slower than fp32)"


def cuda_bf16_native(device: torch.device) -> tuple[bool, str]:
    """Whether this GPU has bf16 tensor cores (compute capability >= 8.0, Ampere or newer)."""
    major, minor = torch.cuda.get_device_capability(device)
    name = torch.cuda.get_device_name(device)
    if (major, minor) >= (8, 0):
        return True, f"{name} (sm_{major}{minor}) has bf16 tensor cores"
    return False, f"{name} (sm_{major}{minor}) has no bf16 tensor cores (needs compute capability 8.0+)"


def dtype_native(dtype: torch.dtype, device: torch.device) -> tuple[bool, str]:
    """Whether `device` computes in `dtype` in hardware, with the reason."""
    if dtype in (torch.float32, torch.float64):
        return True, f"{dtype} is native everywhere"
    if device.type == "cuda":
        if dtype == torch.bfloat16:
            return cuda_bf16_native(device)
        return True, f"{dtype} runs on tensor cores"
    if device.type == "cpu":
        if dtype == torch.bfloat16:
            return cpu_bf16_native()
        if dtype == torch.float16:
            found = sorted(CPU_FP16_FLAGS & cpu_flags())
            return bool(found), f"CPU flags {'/'.join(found)}" if found else "no AVX512-FP16/AMX-FP16: emulated"
    return False, f"{dtype} on {device.type}: unknown, assumed emulated"
