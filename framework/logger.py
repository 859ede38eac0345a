"""The logger interface: a callback that also receives metric dictionaries."""

from __future__ import annotations

from framework.callback import Callback, TrainState


class Logger(Callback):
    """Receives `{name: value}` metrics (names like `train/loss`, `val/accuracy`) at logging steps."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Record metrics for `step`."""

    def log_summary(self, summary: dict[str, float | str]) -> None:
        """Record final values (run directory, best accuracy, ...)."""

    def close(self, state: TrainState, status: str = "finished") -> None:
        """Flush and release resources; `status` is finished, failed or interrupted."""

    def run_location(self) -> str | None:
        """Where this logger keeps the run's record (a folder, a file or a URL), or None (the default).

        Asked after `close`, so remember it once known; a sweep's summary lists it for each trial.
        """
        return None
