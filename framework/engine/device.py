"""Which device a run uses: `trainer.device` resolved against what this machine has."""

from __future__ import annotations

import torch

from framework.errors import PlaitError


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when available, else CPU; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PlaitError(f"trainer.device={name} but CUDA is not available here. Use trainer.device=cpu or auto.")
    return device
