"""Credentials stay out of runs: keys that look like secrets are refused on the command line and redacted
from anything written (argv copies, logged configs); secrets come from the environment only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

from framework.errors import ConfigValueError

SECRET_SEGMENTS = frozenset({"token", "secret", "password", "passwd"})
SECRET_SUBSTRINGS = ("api_key", "apikey", "notify_url")  # a notification URL holds the service's token
REDACTED = "<redacted>"


def looks_like_secret(key: str) -> bool:
    """True for keys that look like credentials: a `.`/`_`/`-` segment equal to token, secret, password or
    passwd, or api_key / apikey / notify_url anywhere (`tokenizer`, `max_new_tokens`, `n_tokens` are not)."""
    lowered = key.lower().replace("-", "_")
    if any(s in lowered for s in SECRET_SUBSTRINGS):
        return True
    return any(segment in SECRET_SEGMENTS for segment in re.split(r"[._]", lowered))


def override_key(arg: str) -> str | None:
    """The config key of a command-line `key=value` / `+key=value` / `~key` argument, else None."""
    if arg.startswith("-"):
        return None
    if arg.startswith("~"):
        return arg[1:].split("=", 1)[0]
    if "=" not in arg:
        return None
    return arg.split("=", 1)[0].lstrip("+").split("@", 1)[0]


def secret_overrides(argv: Iterable[str]) -> list[str]:
    """Command-line overrides whose key looks like a credential."""
    return [arg for arg in argv if (key := override_key(arg)) is not None and looks_like_secret(key)]


def refuse_secrets(argv: list[str]) -> None:
    """Stop before anything is written when an override's key looks like a credential."""
    found = secret_overrides(argv)
    if found:
        keys = ", ".join(str(override_key(a)) for a in found)
        raise ConfigValueError(
            keys,
            " looks like a credential: credentials are never taken from the command line or config, because both "
            "are written to the run directory and to loggers. Put them in environment variables instead "
            "(W&B reads WANDB_API_KEY; Hugging Face reads HF_TOKEN).",
        )


def scrub_argv(argv: list[str]) -> list[str]:
    """A copy of `argv` with the values of credential-looking `key=value` / `--key value` arguments redacted."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next:
            out.append(REDACTED)
            redact_next = False
            continue
        key = override_key(arg)
        if key is not None and looks_like_secret(key):
            out.append(f"{arg.split('=', 1)[0]}={REDACTED}" if "=" in arg else arg)
        elif arg.startswith("-") and looks_like_secret(arg.lstrip("-").split("=", 1)[0]):
            flag, has_value, _ = arg.partition("=")
            out.append(f"{flag}={REDACTED}" if has_value else arg)
            redact_next = not has_value
        else:
            out.append(arg)
    return out


def scrub_config(config: Any) -> Any:
    """A copy of `config` without keys that look like credentials (closed choices become plain strings)."""
    if isinstance(config, dict):
        return {k: scrub_config(v) for k, v in config.items() if not looks_like_secret(str(k))}
    if isinstance(config, (list, tuple)):
        return [scrub_config(v) for v in config]
    if isinstance(config, Enum):
        return config.value
    return config
