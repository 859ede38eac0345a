"""Graceful stops: SIGTERM, SIGINT and SIGUSR1 ask the loop to finish its step, checkpoint and exit.

    with PreemptionHandler() as stop:
        while step < max_steps:
            ...one optimisation step...
            if agree(stop.requested is not None):   # every rank stops at the same step
                save_checkpoint(); close loggers
                raise Preempted(stop.requested, step, checkpoint)

Exit codes (`PREEMPTED_EXIT_CODES`) follow the shell's 128 + signal number, so a scheduler or wrapper
script sees the same code it would for a process the signal killed, and none collides with a failure
(1) or a usage error (2): SIGINT 130, SIGTERM 143, SIGUSR1 138. A graceful stop has saved a checkpoint
at the step it reports; resume it with `trainer.resume=auto`. A second Ctrl-C while stopping raises
KeyboardInterrupt at once (exit 130 as well, without a new checkpoint): checkpoints are written under a
temporary name and renamed, so an interrupted save leaves the previous ones intact.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
PREEMPTED_EXIT_CODES: dict[str, int] = {sig.name: 128 + int(sig) for sig in HANDLED_SIGNALS}


class Preempted(Exception):
    """Training stopped at a step boundary on a signal, after saving; the CLI prints it and exits `exit_code`."""

    def __init__(self, signal_name: str, step: int, checkpoint: Path | str | None = None) -> None:
        self.signal_name = signal_name
        self.step = step
        self.checkpoint = checkpoint
        self.exit_code = PREEMPTED_EXIT_CODES.get(signal_name, 128 + int(signal.Signals[signal_name]))
        where = f"; checkpoint {checkpoint}" if checkpoint is not None else ""
        super().__init__(
            f"stopped on {signal_name} at step {step}{where}. Continue with trainer.resume=auto "
            f"(same hydra.run.dir). Exit code {self.exit_code}."
        )


class PreemptionHandler:
    """Turns stop signals into a flag for the duration of a `with` block, then restores the old handlers.

    Outside the main thread (where Python cannot install handlers) it does nothing and the flag stays None.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = HANDLED_SIGNALS) -> None:
        self.signals = signals
        self.requested: str | None = None  # name of the first stop signal received, e.g. "SIGTERM"
        self.active = False
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> PreemptionHandler:
        self.requested = None
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        self.active = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        self.active = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            _say("\nsecond Ctrl-C: stopping now without a new checkpoint (saved checkpoints are intact)\n")
            raise KeyboardInterrupt
        if self.requested is None:
            self.requested = name
            hint = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
            _say(f"\n{name} received: finishing this step, saving a checkpoint, then stopping{hint}\n")


def _say(text: str) -> None:
    """Write from a signal handler: os.write is safe where print() could re-enter a busy stream."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


def agree(flag: bool, device: Any = None) -> bool:
    """True on every rank when any rank's `flag` is true (all-reduce MAX); just `flag` without torch.distributed.

    A collective: under torchrun every rank must call it at the same steps. `device` defaults to the
    current CUDA device for the NCCL backend and the CPU otherwise.
    """
    return agree_all([flag], device)[0]


def agree_all(flags: list[bool], device: Any = None) -> list[bool]:
    """`agree` for several flags in one all-reduce: each is true on every rank when it is true on any rank."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(flags)
    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return [bool(v) for v in value.tolist()]
