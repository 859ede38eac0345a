"""`trainer.max_time`: end a launch at a step boundary before a wall-clock limit, leaving time to evaluate and save.

The limit counts from the start of `fit()` in this launch, so a run resumed with `trainer.resume=auto` gets the
whole limit again, as a job under a cluster's time limit does. At each step boundary the run stops when one more
step, then a final evaluation and checkpoint, would not fit before the limit. Each is estimated from what was
measured in this launch: the slowest of the recent steps, the last evaluation and the last save. An evaluation or
save not yet measured counts as zero, so a limit shorter than the first evaluation can be overrun by one of each.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Iterator

from framework.errors import ConfigValueError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
RECENT_STEPS = 8  # the step estimate is the slowest of this many recent steps


def parse_duration(text: str, key: str = "max_time") -> float:
    """Seconds in `text`: "HH:MM:SS", "DD:HH:MM:SS", or a number with an optional unit s|m|h|d ("90", "45m")."""
    raw = str(text).strip().lower()
    try:
        if ":" in raw:
            parts = [float(p) for p in raw.split(":")]
            if len(parts) not in (3, 4) or min(parts) < 0:
                raise ValueError(raw)
            seconds = sum(v * f for v, f in zip(reversed(parts), (1, 60, 3600, 86400), strict=False))
        else:
            unit = raw[-1] if raw[-1:].isalpha() else "s"
            seconds = float(raw[:-1] if raw[-1:].isalpha() else raw) * UNITS[unit]
    except (ValueError, KeyError):
        raise ConfigValueError(
            key, f"={text!r} is not a duration: use HH:MM:SS, DD:HH:MM:SS or seconds (90, 90s, 45m, 2h)"
        ) from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigValueError(key, f"={text!r} is not allowed: must be a duration above 0")
    return seconds


class TimeLimit:
    """Measures steps, evaluations and saves; says when one more step would not leave time to finish before the limit."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds  # None: no limit
        self.started: float | None = None
        self.steps: deque[float] = deque(maxlen=RECENT_STEPS)
        self.last: dict[str, float] = {"eval": 0.0, "save": 0.0}  # the last measured duration of each
        self._mark = 0.0  # perf_counter() at the last step boundary
        self._aside = 0.0  # seconds of evaluation and saving since then (not part of the step)

    def start(self) -> None:
        """Start the clock (the start of `fit()`)."""
        self.started = self._mark = time.perf_counter()

    @contextlib.contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Measure one evaluation (`eval`) or save (`save`)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.last[kind] = time.perf_counter() - began
            self._aside += self.last[kind]

    def step_done(self) -> None:
        """Record the step that just finished (its time without the evaluation and saving done after it)."""
        now = time.perf_counter()
        self.steps.append(max(now - self._mark - self._aside, 0.0))
        self._mark, self._aside = now, 0.0

    def needed_s(self) -> float:
        """Estimated seconds for one more step, a final evaluation and a checkpoint."""
        return max(self.steps, default=0.0) + self.last["eval"] + self.last["save"]

    def elapsed_s(self) -> float:
        """Seconds since `start()`."""
        return time.perf_counter() - self.started if self.started is not None else 0.0

    def expired(self) -> bool:
        """True when one more step and the final evaluation and save would pass the limit."""
        return self.seconds is not None and self.elapsed_s() + self.needed_s() > self.seconds

    def reason(self, text: str) -> str:
        """Why the run stops, for people: the limit, the time used and the estimate."""
        return (
            f"trainer.max_time={text} ({self.seconds:g} s) reached: {self.elapsed_s():.1f} s used, and one more step "
            f"with a final evaluation and save would take about {self.needed_s():.1f} s"
        )
