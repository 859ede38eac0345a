"""The state of a git checkout, cheaply: commit, branch, whether tracked files changed, and their diff.

Two short `git` calls with a timeout (a few ms on an ordinary repository); a directory outside any
repository is found without running git at all. Nothing here raises: what could not be learnt becomes a
`note` ("not a git repository", "git is not installed", "git timed out ...").
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_S = 2.0
DIFF_LIMIT_BYTES = 1 << 20  # the saved diff is cut beyond this, with a note at its end


@dataclass
class GitState:
    """One checkout as provenance records it; `diff` is the text of `git diff HEAD` (not saved in the record)."""

    root: str | None
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    note: str | None = None
    diff: bytes = b""

    def record(self, diff_file: str | None) -> dict[str, Any]:
        """JSON-ready fields; `diff_file` names where the diff was saved (None when clean)."""
        out: dict[str, Any] = {"root": self.root, "commit": self.commit, "branch": self.branch, "dirty": self.dirty}
        if self.dirty and self.diff:  # dirty without a diff: the note says why it could not be taken
            out.update(diff=diff_file, diff_bytes=len(self.diff), diff_sha256=hashlib.sha256(self.diff).hexdigest())
            out["diff_cut"] = len(self.diff) > DIFF_LIMIT_BYTES  # the saved file ends with a note saying where
        if self.note:
            out["note"] = self.note
        return out


def repository_root(path: Path) -> Path | None:
    """The top of the git work tree holding `path` (a `.git` directory or file there), or None."""
    path = path.resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git(root: Path, *args: str) -> bytes:
    done = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(root), *args],
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(message[-1] if message else f"git {args[0]} exited with {done.returncode}")
    return done.stdout


def _parse_status(raw: bytes) -> tuple[str | None, str | None, bool]:
    """(commit, branch, tracked files changed) from `git status --porcelain=v2 --branch -z`."""
    commit = branch = None
    changed = False
    for entry in raw.decode(errors="replace").split("\0"):
        if entry.startswith("# branch.oid "):
            commit = entry.split()[2]
        elif entry.startswith("# branch.head "):
            branch = entry.split()[2]
        elif entry and not entry.startswith("#"):
            changed = True
    return (None if commit == "(initial)" else commit), (None if branch == "(detached)" else branch), changed


def git_state(path: Path) -> GitState:
    """The checkout holding `path`: commit, branch, dirty (tracked files differ from HEAD) and that diff."""
    root = repository_root(path)
    if root is None:
        return GitState(root=None, note="not a git repository")
    state = GitState(root=str(root))
    try:
        state.commit, state.branch, state.dirty = _parse_status(
            _git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no")
        )
        if state.commit is None:
            state.note = "no commit yet"
        elif state.dirty:
            state.diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff")
    except FileNotFoundError:
        state.note = "git is not installed"
    except subprocess.TimeoutExpired:
        state.note = f"git timed out after {TIMEOUT_S:g} s"
    except RuntimeError as exc:
        state.note = f"git failed: {exc}"
    return state


def capped(diff: bytes, limit: int = DIFF_LIMIT_BYTES) -> bytes:
    """`diff` as saved: whole, or its first `limit` bytes (ending at a line) and a note saying it was cut."""
    if len(diff) <= limit:
        return diff
    head = diff[:limit]
    head = head[: head.rfind(b"\n") + 1] or head
    return head + f"\n# plait: diff cut at {len(head)} of {len(diff)} bytes\n".encode()
