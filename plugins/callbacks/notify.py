"""`callback=notify`: a message when a run finishes, diverges, crashes or is preempted (and every n evaluations).

Messages go through apprise (`pip install 'plait[notify]'`), one URL scheme for Slack, Discord, Teams, e-mail,
ntfy, Telegram, generic JSON webhooks and many more: `slack://T/B/C`, `mailtos://user:pass@example.com`,
`json://host:port/path`. The URL (several: separated by spaces or commas) is read from the environment variable
`callback.notify.url_env` names (PLAIT_NOTIFY_URL by default), never from the config or the command line: a URL
holds the service's token, and the config is written to the run directory and to every logger. The URL is never
printed or logged (apprise's own log is kept out of the run's log file); a message that cannot be delivered is a
warning, never an error of the run.

A finish message holds the run directory, the last step, the wall time and the final evaluation's metrics; a
divergence, crash or preemption message the same with the error's message. Sent by one process under torchrun.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import Callback, ComponentConfig, PlaitError, TrainState, at_least

EXTRA = "pip install 'plait[notify]'"
HEADLINES = {
    "finished": "finished",
    "diverged": "diverged (non-finite numbers)",
    "crashed": "crashed",
    "preempted": "was stopped by a signal (resume with trainer.resume=auto)",
}
KINDS = {"finished": "success", "diverged": "failure", "crashed": "failure", "preempted": "warning"}  # apprise's


@dataclass
class NotifyConfig(ComponentConfig):
    """Options of the notifications (the URL itself comes from the environment only)."""

    url_env: str = "PLAIT_NOTIFY_URL"  # the environment variable holding the apprise URL(s)
    every_n_evals: int = 0  # also a message after every n-th evaluation, with its metrics; 0: only at the end
    title: str = "plait"  # the start of every message's title: "<title> <status>: <run directory name>"

    def validate(self) -> None:
        """Range checks, and the URL's variable set: a run that was asked to notify fails before any work."""
        at_least(self, 0, "every_n_evals")
        if not self.url_env.strip():
            raise PlaitError("callback.notify.url_env is empty: name the environment variable holding the URL")
        urls_from(self.url_env)


def urls_from(variable: str) -> str:
    """The apprise URL(s) in the environment variable `variable`; a clear error when it is unset or empty."""
    urls = os.environ.get(variable, "").strip()
    if not urls:
        raise PlaitError(
            f"callback=notify sends to the apprise URL in the environment variable {variable}, which is not set "
            f"(or empty): export {variable}='slack://T/B/C' (any apprise URL), or name another variable with "
            "callback.notify.url_env=..."
        )
    return urls


def import_apprise() -> Any:
    """The apprise module; a clear error naming the extra when it is not installed."""
    try:
        import apprise
    except ImportError:
        raise PlaitError(f"callback=notify needs the 'apprise' package, which is not installed: {EXTRA}") from None
    logger = logging.getLogger("apprise")
    logger.propagate = False  # its messages may name hosts or URLs: never into the run's log file (Hydra's)
    logger.addHandler(logging.NullHandler())
    return apprise


def wall_time(seconds: float) -> str:
    """`seconds` as people read a duration: 1h 02m 03s, 4m 05s, 12.3s."""
    whole = int(seconds)
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f}s"


def metrics_text(metrics: dict[str, float]) -> str:
    """`{"val/loss": 0.51}` as `val/loss 0.51`, one per line, sorted."""
    return "\n".join(f"{name} {value:.6g}" for name, value in sorted(metrics.items()))


class Notify(Callback):
    """Sends the end of the run (and, optionally, evaluations) to the apprise URL(s) from the environment."""

    def __init__(self, cfg: NotifyConfig, apprise: Any, urls: str) -> None:
        self.cfg = cfg
        self.notifier = apprise.Apprise()
        if not self.notifier.add(urls.replace(",", " ").split()):
            raise PlaitError(
                f"${cfg.url_env} holds no URL apprise can send to (the value is not shown); see "
                "https://github.com/caronc/apprise/wiki for the URL of each service, e.g. slack://T/B/C"
            )
        self.evals = 0
        self.wall_before = 0.0  # seconds of earlier starts of this run (a resumed run)
        self.started: float | None = None

    def elapsed_s(self) -> float:
        """Wall-clock seconds of this run, over all its starts."""
        return self.wall_before + (time.monotonic() - self.started if self.started is not None else 0.0)

    def send(self, title: str, body: str, kind: str) -> None:
        """Deliver one message from the main process; a failure is a warning without the URL."""
        from framework import is_main  # here: the config above is read by `--help`, which imports no torch

        if not is_main():
            return
        try:
            delivered = bool(self.notifier.notify(body=body, title=title, notify_type=kind))
        except Exception:  # a notification never fails the run; the error's text may hold the URL: not shown
            delivered = False
        if not delivered:
            warnings.warn(
                f"callback=notify could not deliver '{title}' to ${self.cfg.url_env} (the URL is not shown)",
                stacklevel=2,
            )

    def on_fit_start(self, state: TrainState) -> None:
        """Start the wall clock."""
        self.started = time.monotonic()

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        """Every `every_n_evals`-th evaluation: its metrics."""
        self.evals += 1
        n = self.cfg.every_n_evals
        if n and self.evals % n == 0:
            body = f"step {state.step}/{state.max_steps} of {state.run_dir}\n{metrics_text(metrics)}"
            self.send(f"{self.cfg.title} evaluation: {state.run_dir.name}", body, "info")

    def on_run_end(self, state: TrainState, status: str, reason: str | None = None) -> None:
        """How the run ended: its directory, last step, wall time, final (or last) metrics, and the error."""
        lines = [
            f"run {HEADLINES.get(status, status)} at step {state.step}/{state.max_steps}",
            f"run directory: {state.run_dir}",
            f"wall time: {wall_time(self.elapsed_s())}",
        ]
        if reason:
            lines.append(f"error: {reason}")
        if state.last_metrics:
            lines += ["final metrics:" if status == "finished" else "last metrics:", metrics_text(state.last_metrics)]
        self.send(f"{self.cfg.title} {status}: {state.run_dir.name}", "\n".join(lines), KINDS.get(status, "info"))

    def state_dict(self) -> dict[str, Any]:
        """Evaluations counted and the wall time so far, so a resumed run continues both."""
        return {"evals": self.evals, "wall_s": self.elapsed_s()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`."""
        self.evals = int(state.get("evals", 0))
        self.wall_before = float(state.get("wall_s", 0.0))


def build_notify(cfg: NotifyConfig, *, run_dir: Path) -> Notify:
    """Messages (Slack, e-mail, webhooks ... through apprise) when the run ends; the URL from the environment."""
    return Notify(cfg, import_apprise(), urls_from(cfg.url_env))
