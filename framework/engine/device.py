"""Which device a run uses: `trainer.device` resolved against what this machine has."""

from __future__ import annotations

import torch

from framework.errors import PlaitError


def available_devices() -> list[str]:
    """The device types this machine can train on: cpu, and cuda / mps when present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append(f"cuda (cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def _unavailable(name: str, why: str) -> PlaitError:
    """`trainer.device=<name> <why>; this machine has: ...` with the values that work here."""
    return PlaitError(
        f"trainer.device={name} {why}. This machine has: {', '.join(available_devices())}; "
        "use one of them or trainer.device=auto"
    )


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when available, else CPU; anything else must name a device this machine has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):  # torch lists every type it was built for, not the ones present
        raise _unavailable(name, "is not a device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise _unavailable(name, "but CUDA is not available here")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise _unavailable(name, f"but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda", "mps") or (device.type == "mps" and "mps" not in available_devices()):
        raise _unavailable(name, f"names a device type ({device.type}) this machine does not have")
    return device
