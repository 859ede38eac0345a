"""Checkpoints kept in object storage: `trainer.checkpoint_dir=s3://bucket/prefix` (or `gs://`, `file://`,
`memory://`, any fsspec URL, or a plain path such as a shared file system).

Every checkpoint is still written locally first, with framework.engine.checkpoint's commit protocol, into the run's
`checkpoints/`. One background thread then copies it to `<url>/step_N/`: its files first, the `COMPLETE` marker
last, so a remote checkpoint without its marker is an unfinished upload that nothing ever uses. At most one upload
is in flight: the next save waits for it before committing (training runs at most one checkpoint ahead of the
network) and the end of the run waits for the last one. A local copy is pruned only after its upload is confirmed;
the remote copies follow the local pruning after each upload (the marker deleted first).

`trainer.resume=auto` on a machine whose `checkpoints/` is empty (or older) downloads the newest complete remote
checkpoint into it, by the same protocol, and continues. `plait eval`/`predict` open a remote run: a URL, or a run
directory whose config records a remote `checkpoint_dir` and that holds no checkpoint itself (the checkpoint is
downloaded into the cache; nothing is written into the run).

Credentials never pass through Plait: fsspec's back ends read them from the environment or the provider's own
configuration (AWS_* variables and ~/.aws for s3fs, GOOGLE_APPLICATION_CREDENTIALS for gcsfs, FSSPEC_S3_* for
fsspec options such as the endpoint). A URL with user info or a query string is refused, since config.yaml records
the URL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from framework.engine.checkpoint import (
    MARKER,
    PREFIX,
    checkpoint_step,
    fault_point,
    fsync_tree,
    is_complete,
    list_checkpoints,
)
from framework.errors import ConfigValueError, PlaitError
from framework.files import cache_root, fsync_dir

if TYPE_CHECKING:
    from framework.engine.checkpoint import Checkpointer

KEY = "checkpoint_dir"
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}  # URL scheme -> the Plait extra providing it
BUCKETS = frozenset(EXTRAS)  # schemes whose first path part is a bucket (never created by Plait)

log = logging.getLogger(__name__)


def is_url(value: str) -> bool:
    """True for `scheme://...` (not a plain path)."""
    return "://" in value


def _redacted(url: str) -> str:
    """`url` without its user info (for error messages that must not repeat a credential)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://<credentials>@{host}{parts.path}"


def check_url(url: str) -> None:
    """Refuse what config.yaml must not record or fsspec cannot open: user info or a query in the URL (credentials
    come from the environment), an unknown scheme, a back end whose extra is not installed. No network."""
    if not is_url(url):
        return
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ConfigValueError(
            KEY,
            f"={_redacted(url)} holds credentials; they would be written into config.yaml. Give the URL without "
            "them and put the credentials where the storage's own client reads them (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or ~/.aws for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://)",
        )
    if parts.query or parts.fragment:
        raise ConfigValueError(
            KEY,
            f"={parts.scheme}://{parts.netloc}{parts.path}?...: options in the URL are not accepted (config.yaml "
            "records it); set them in the environment (e.g. AWS_ENDPOINT_URL, FSSPEC_S3_* variables) instead",
        )
    _filesystem_class(parts.scheme)


def _filesystem_class(scheme: str) -> Any:
    """fsspec's class for `scheme`; a missing back end is an error naming the extra to install."""
    import fsspec

    try:
        return fsspec.get_filesystem_class(scheme)
    except ImportError:
        extra = EXTRAS.get(scheme)
        hint = f"pip install 'plait[{extra}]'" if extra else "install the fsspec back end for it"
        raise PlaitError(
            f"trainer.{KEY}={scheme}://... needs a storage back end that is not installed: {hint}"
        ) from None
    except ValueError:
        raise ConfigValueError(
            KEY, f": unknown storage scheme {scheme}://; use s3://, gs://, file://, memory:// or a path"
        ) from None


class RemoteCheckpoints:
    """The remote copy of one run's `checkpoints/`: probe, upload (in the background), prune, list and download."""

    def __init__(self, url: str, local: Path) -> None:
        import fsspec

        check_url(url)
        self.url = url if is_url(url) else str(Path(url).expanduser().absolute())
        self.local = Path(local)
        self.scheme = urlsplit(self.url).scheme if is_url(self.url) else "file"
        for chatty in ("botocore", "aiobotocore"):  # INFO lines on every client creation ("Found credentials in ...")
            logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger(chatty).level))
        self.fs, self.root = fsspec.core.url_to_fs(self.url, skip_instance_cache=True)  # the environment of now
        self.root = self.root.rstrip("/")
        self.confirmed: set[int] = set()  # steps whose upload is confirmed (complete remotely)
        self.released: set[int] = set()  # steps pruned by policy once a newer upload was confirmed
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failed: Path | None = None

    # -- reading the remote side ------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def probe(self) -> None:
        """Fail now, before training, when the storage is unreachable, the bucket is missing or cannot be written."""
        where = f"trainer.{KEY}={self.url}"
        try:
            if self.scheme in BUCKETS:
                bucket = self.root.split("/", 1)[0]
                try:
                    self.fs.info(bucket)  # exists() would say False for an unreachable endpoint too
                except FileNotFoundError:
                    raise PlaitError(
                        f"{where}: the bucket {bucket} does not exist (or these credentials cannot see it); create it "
                        "first, or fix the URL. Plait never creates buckets"
                    ) from None
            else:
                self.fs.makedirs(self.root, exist_ok=True)
            probe = self._path(f".plait-probe-{os.getpid()}")
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except PlaitError:
            raise
        except Exception as exc:  # connection refused, DNS, permissions: the back ends raise their own types
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PlaitError(
                f"{where}: cannot reach or write the checkpoint storage ({type(exc).__name__}: {detail}). Check the "
                "endpoint (AWS_ENDPOINT_URL for S3-compatible servers), the network and the credentials in the "
                "environment; no training was started"
            ) from None

    def remote_steps(self, complete_only: bool = True) -> list[int]:
        """Steps of the remote checkpoints, oldest first (only those whose COMPLETE marker is there, by default)."""
        self.fs.invalidate_cache()  # another process (the one before a restart) may have written since
        pattern = self._path(f"{PREFIX}*", MARKER) if complete_only else self._path(f"{PREFIX}*")
        found = {Path(p.rstrip("/")).parent.name if complete_only else Path(p).name for p in self.fs.glob(pattern)}
        return sorted(checkpoint_step(Path(name)) for name in found if name[len(PREFIX) :].isdigit())

    def _delete(self, step: int) -> None:
        """Remove one remote checkpoint, its marker first (a half-deleted one is never taken as complete)."""
        directory = self._path(f"{PREFIX}{step:07d}")
        if self.fs.exists(self._path(f"{PREFIX}{step:07d}", MARKER)):
            self.fs.rm_file(self._path(f"{PREFIX}{step:07d}", MARKER))
        if self.fs.exists(directory):
            self.fs.rm(directory, recursive=True)

    def check_fresh(self, overwrite: bool) -> None:
        """Refuse to start a new run over another run's remote checkpoints; with `overwrite`, delete them."""
        steps = self.remote_steps(complete_only=False)
        if not steps:
            return
        if not overwrite:
            raise PlaitError(
                f"trainer.{KEY}={self.url} already holds checkpoints of a run (steps {', '.join(map(str, steps))}). "
                "Continue it with trainer.resume=auto, choose another prefix, or replace them with "
                "trainer.overwrite=true (deletes them)."
            )
        for step in steps:
            self._delete(step)

    def download(self, step: int, into: Path) -> Path:
        """Copy remote checkpoint `step` into the directory `into` by the commit protocol; returns its path."""
        name = f"{PREFIX}{step:07d}"
        final = into / name
        tmp = into / f".tmp-fetch-{name}-{os.getpid()}"
        into.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        source = self._path(name)
        try:
            for remote in sorted(self.fs.find(source)):
                relative = remote[len(source) + 1 :]
                if relative == MARKER:
                    continue
                target = tmp / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(target))
            (tmp / MARKER).write_text(f"step {step}\n")
            fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(final, ignore_errors=True)  # an unmarked local copy of the same step
        os.replace(tmp, final)
        fsync_dir(into)
        return final

    def fetch_newest(self) -> Path | None:
        """Download the newest complete remote checkpoint into the local `checkpoints/` when it is newer than every
        local one (a restart on a new machine); returns what was downloaded."""
        local = list_checkpoints(self.local)
        newest_local = checkpoint_step(local[-1]) if local else -1
        remote = self.remote_steps()
        if not remote or remote[-1] <= newest_local:
            return None
        started = time.perf_counter()
        path = self.download(remote[-1], self.local)
        self.confirmed.add(remote[-1])
        print(
            f"checkpoint: downloaded {path.name} from {self.url} ({time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
        return path

    # -- uploading ---------------------------------------------------------------------------------

    def attach(self, checkpointer: Checkpointer) -> None:
        """Mirror `checkpointer`'s saves from now on, and upload its local checkpoints the remote lacks (an upload
        killed before a restart on this machine) in the background."""
        checkpointer.mirror = self
        self.confirmed |= set(self.remote_steps())
        pending = [p for p in list_checkpoints(self.local) if checkpoint_step(p) not in self.confirmed]
        if pending:
            keep = {checkpoint_step(p) for p in list_checkpoints(self.local)} | self.confirmed
            self._start(pending, keep)

    def is_confirmed(self, checkpoint: Path) -> bool:
        """True when `checkpoint` (a local step directory) may be pruned locally: its upload is confirmed, or it was
        dropped by the pruning and a newer upload is confirmed (no copy of it is needed anywhere)."""
        return checkpoint_step(checkpoint) in self.confirmed | self.released

    def submit(self, checkpoint: Path, keep: set[int]) -> None:
        """Upload a just-committed local checkpoint in the background, with any kept one whose upload failed before;
        then delete the remote checkpoints whose steps are not in `keep` (what the local pruning kept). Waits for
        the previous upload first."""
        self.wait()
        unsent = [p for p in list_checkpoints(self.local) if checkpoint_step(p) in keep - self.confirmed]
        self._start(sorted({*unsent, checkpoint}, key=checkpoint_step), keep)

    def _start(self, checkpoints: list[Path], keep: set[int]) -> None:
        self._thread = threading.Thread(
            target=self._upload_all, args=(checkpoints, keep), name="plait-checkpoint-upload", daemon=True
        )
        self._thread.start()

    def _upload_all(self, checkpoints: list[Path], keep: set[int]) -> None:
        try:
            for checkpoint in checkpoints:
                self._failed = checkpoint
                self.upload(checkpoint)
            self._failed = None
            for step in self.remote_steps(complete_only=False):
                if step not in keep:
                    self._delete(step)
            self.released |= {checkpoint_step(p) for p in list_checkpoints(self.local)} - keep
        except BaseException as exc:  # said by the next wait(), in the training thread
            self._error = exc

    def upload(self, checkpoint: Path) -> None:
        """Copy one local checkpoint to the remote directory, its COMPLETE marker last (synchronously)."""
        step = checkpoint_step(checkpoint)
        target = self._path(checkpoint.name)
        if self.fs.exists(self._path(checkpoint.name, MARKER)):  # re-saving a step: no longer complete from here on
            self.fs.rm_file(self._path(checkpoint.name, MARKER))
        self.confirmed.discard(step)
        files = sorted(p for p in checkpoint.rglob("*") if p.is_file() and p.name != MARKER)
        for parent in sorted({f.parent for f in files}):
            if self.scheme not in BUCKETS:  # object stores have no directories (and makedirs may create buckets)
                self.fs.makedirs("/".join((target, *parent.relative_to(checkpoint).parts)), exist_ok=True)
        for file in files:
            self.fs.put_file(str(file), "/".join((target, *file.relative_to(checkpoint).parts)))
        fault_point("during_upload", step)
        self.fs.put_file(str(checkpoint / MARKER), self._path(checkpoint.name, MARKER))
        self.confirmed.add(step)

    def wait(self) -> str | None:
        """Block until the upload in flight is done. A failed one is said on stderr and returned; training goes on,
        its checkpoint stays local (never pruned unconfirmed) and is uploaded again with the next one."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is None:
            return None
        exc, self._error = self._error, None
        which = self._failed.name if self._failed is not None else "the pruning"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        problem = f"uploading {which} to {self.url} failed ({type(exc).__name__}: {detail})"
        print(f"warning: {problem}; it stays in {self.local} and is tried again at the next save", file=sys.stderr)
        return problem

    def finish(self) -> None:
        """The end of the run: wait for the last upload; a checkpoint that never reached the remote is an error saying
        how to send it (the same command with trainer.resume=auto uploads what is missing, without training)."""
        problem = self.wait()
        missing = [p.name for p in list_checkpoints(self.local) if not self.is_confirmed(p)]
        if missing:
            raise PlaitError(
                f"{', '.join(missing)} did not reach {self.url}" + (f" ({problem})" if problem else "") + f"; they are "
                f"kept in {self.local}. Fix the storage and run the same command with trainer.resume=auto to upload them"
            )

    def __enter__(self) -> RemoteCheckpoints:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """The end of training, however it ended: wait for the last upload (a preempted run's checkpoint too)."""
        if kind is None:
            self.finish()
        else:
            self.wait()


def prepare(checkpoint_dir: str | None, run_dir: Path, resume: str | None, overwrite: bool) -> RemoteCheckpoints | None:
    """The run's remote checkpoints (None when `trainer.checkpoint_dir` is unset), checked before training starts:
    reachable and writable, not another run's (unless resuming or overwriting), and with `trainer.resume=auto` the
    newest remote checkpoint downloaded when this machine lacks it."""
    if not checkpoint_dir:
        return None
    remote = RemoteCheckpoints(checkpoint_dir, Path(run_dir) / "checkpoints")
    remote.probe()
    if not resume:
        remote.check_fresh(overwrite)
    elif resume == "auto":
        remote.fetch_newest()
    return remote


def local_run(path: Path | str) -> Path | str:
    """What `plait eval`/`predict` open for `path`: a URL's newest checkpoint, downloaded into the cache (its run
    directory returned); a run directory whose config records a remote `checkpoint_dir` and that holds no
    checkpoint itself: the same for that URL; anything else: `path` unchanged."""
    text = str(path)
    if not is_url(text):
        run = Path(text).expanduser()
        if not (run / "config.yaml").is_file() or list_checkpoints(run / "checkpoints") or is_complete(run):
            return path
        from omegaconf import OmegaConf

        recorded = OmegaConf.select(OmegaConf.load(run / "config.yaml"), f"trainer.{KEY}")
        if not recorded:
            return path
        text = str(recorded)
    remote = RemoteCheckpoints(text, Path())
    steps = remote.remote_steps()
    if not steps:
        raise PlaitError(f"no complete checkpoint in {remote.url} (expected {PREFIX}*/{MARKER})")
    run_dir = cache_root() / "remote" / hashlib.sha256(remote.url.encode()).hexdigest()[:16]
    if not is_complete(run_dir / "checkpoints" / f"{PREFIX}{steps[-1]:07d}"):
        remote.download(steps[-1], run_dir / "checkpoints")
    print(f"checkpoint: {PREFIX}{steps[-1]:07d} from {remote.url}, downloaded to {run_dir}", file=sys.stderr)
    return run_dir
