"""Progress of a long preparation (reading, tokenizer training, tokenization): a bar on a terminal, plain
throttled lines in a log (one every `interval_s`: records, MB, MB/s), and a closing summary line either way."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TextIO

MB = 1e6


def text_bytes(records: list[str]) -> int:
    """UTF-8 size of a batch of records (one join and encode: cheap next to tokenizing them)."""
    return len("".join(records).encode("utf-8"))


class Progress:
    """Counts records and bytes of one preparation step and reports them to `stream` (stderr by default).

    `total_bytes`, when known (the files' sizes), gives the bar its end and the lines a percentage;
    `enabled=False` counts silently (ranks other than 0, tests)."""

    def __init__(
        self,
        what: str,
        *,
        total_bytes: int | None = None,
        interval_s: float = 5.0,
        stream: TextIO | None = None,
        enabled: bool = True,
        bar: bool | None = None,
    ) -> None:
        self.what = what
        self.total_bytes = total_bytes
        self.interval_s = interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.records = 0
        self.bytes = 0
        self.start = time.monotonic()
        self._last_line = self.start
        self._bar: Any = None
        use_bar = bar if bar is not None else self.stream.isatty()
        if enabled and use_bar:
            self._bar, self._task = _rich_bar(what, total_bytes, self.stream)

    def update(self, records: int = 0, nbytes: int = 0) -> None:
        """Add `records` records and `nbytes` bytes done; redraws the bar, or prints a line when one is due."""
        self.records += records
        self.bytes += nbytes
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.bytes, records=self.records)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval_s:
            self._last_line = now
            print(self.line(), file=self.stream, flush=True)

    def track(self, batches: Iterable[list[str]]) -> Iterator[list[str]]:
        """The batches unchanged, each counted (records and UTF-8 bytes) as it passes."""
        for batch in batches:
            self.update(len(batch), text_bytes(batch))
            yield batch

    def line(self) -> str:
        """One plain line: what, records, MB (of the total when known), MB/s, seconds so far."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        of = f" of {self.total_bytes / MB:,.1f}" if self.total_bytes else ""
        share = f" ({100 * self.bytes / self.total_bytes:.0f}%)" if self.total_bytes else ""
        return (
            f"{self.what}: {self.records:,} records, {self.bytes / MB:,.1f}{of} MB{share}, "
            f"{self.bytes / MB / elapsed:,.1f} MB/s, {elapsed:,.1f} s"
        )

    def close(self) -> None:
        """Stop the bar and print the summary line."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.enabled:
            print(self.line(), file=self.stream, flush=True)
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _rich_bar(what: str, total_bytes: int | None, stream: TextIO) -> tuple[Any, Any]:
    """A started rich progress bar over bytes, with records, MB (of the total) and MB/s columns."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: list[Any] = [TextColumn("{task.description}")]
    columns += [BarColumn()] if total_bytes else []
    columns += [TextColumn("{task.fields[records]:,} records"), DownloadColumn(), TransferSpeedColumn()]
    columns += [TimeElapsedColumn()] + ([TimeRemainingColumn()] if total_bytes else [])
    bar = Progress(*columns, console=Console(file=stream), transient=True)
    task = bar.add_task(what, total=total_bytes, records=0)
    bar.start()
    return bar, task
