"""The model tests share a single CPU thread: tiny models gain nothing from more."""

from __future__ import annotations

import torch

torch.set_num_threads(1)  # the CPU is shared; tiny models gain nothing from more threads
