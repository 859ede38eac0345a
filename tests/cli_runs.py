"""`plait train` run in this process as a user runs it, and a user's data file: test support, not shipped.

Tests import it as `from cli_runs import run_cli, sentiment_file`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from framework.cli import main


def sentiment_file(path: Path, n: int) -> Path:
    """A TSV of `n` labelled sentences (text, label), as a user's data file."""
    from plugins.tasks.synthetic_sentiment import generate

    path.write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in generate(n, 1)), encoding="utf-8")
    return path


def run_cli(
    args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str]:
    """`plait train <args>` in this process from `cwd`: (exit code, 0 when it finished; stderr + stdout)."""
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # what a user sees
    monkeypatch.setenv("PLAIT_CACHE_DIR", str(cwd / "cache"))
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # run_hydra_train rewrites sys.argv for Hydra
    try:
        main(["train", *args])
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.err + out.out
