"""Cutting TensorBoard event files back to a step, for a resumed run (as the jsonl logger repairs metrics.jsonl).

Every reader then sees each step once: TensorBoard's server also hides such events through the resumed
writer's `purge_step`, but other readers (the legacy EventAccumulator, scripts) do not. A file is rewritten
only when it holds a later event (or a record torn by a kill), through a temporary name TensorBoard ignores.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from framework import atomic_write

log = logging.getLogger(__name__)
TEMP_PREFIX = ".cut-"  # no "tfevents" in it: TensorBoard never reads a leftover as an event file


def cut_event_files(log_dir: Path, step: int) -> None:
    """Drop every event after `step` from the event files in `log_dir` (each rewritten atomically)."""
    for leftover in log_dir.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink()
    for path in sorted(log_dir.glob("*tfevents*")):
        kept, raw = _kept_records(path, step)
        if kept != raw:
            atomic_write(path, kept, temp_name=f"{TEMP_PREFIX}{os.getpid()}")
            log.info("%s: cut back to step %d for the resumed run", path, step)


def _kept_records(path: Path, step: int) -> tuple[bytes, bytes]:
    """(the file's complete records with step <= `step`, re-framed; the file's bytes)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for record in RawEventFileLoader(str(path)).Load():
        if Event.FromString(record).step <= step:
            writer.write(record)
    return buffer.getvalue(), path.read_bytes()
