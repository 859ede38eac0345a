"""Plait's error classes: the bottom of the core, importable by every layer and by plugins.

Every error a user can cause is a `PlaitError`: its message names the problem and the fix, and the CLI prints
it without a traceback.
"""

from __future__ import annotations

import difflib


class PlaitError(Exception):
    """A user-facing error: the message names the problem and the fix; the CLI prints it without a traceback."""


class UnknownComponentError(PlaitError, KeyError):
    """Raised when a config names a component key that no plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateComponentError(PlaitError):
    """Raised when two providers register the same key for one kind."""


class ConfigValueError(PlaitError):
    """A config value outside what its key allows; the message names the full key and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key = key
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}{self.message}"

    def under(self, prefix: str) -> ConfigValueError:
        """The same error with `prefix.` in front of its key (a schema knows only its own field names)."""
        return ConfigValueError(f"{prefix}.{self.key}" if prefix else self.key, self.message)


class DataError(PlaitError):
    """Bad input data; the message names the file, the line and the fix."""


class UnsupportedPrecisionError(PlaitError):
    """The chosen precision cannot run on this device; the message names one that can."""


class NonFiniteError(PlaitError):
    """Training produced inf/NaN that the precision strategy cannot recover from (e.g. loss scale at its minimum)."""


class InsufficientMemoryError(PlaitError):
    """An allocation failed or would fail; the message says what was being allocated, what the device has and
    which keys to change (framework.engine.memory words it)."""


class DiskWriteError(PlaitError):
    """A write refused by a full or read-only disk; the message names the file, the free space and what to do
    (framework.engine.disk words it)."""


def closest(name: str, choices: list[str]) -> str | None:
    """The known name most similar to `name`, for "did you mean" hints (None only when there are no choices)."""
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.0)
    return found[0] if found else None
