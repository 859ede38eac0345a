"""Checkpoints in object storage (`trainer.checkpoint_dir=s3://...`) against moto's S3 server, started here on a free
127.0.0.1 port: checkpoints land in the bucket; a run killed during an upload resumes on a "new machine" (an empty
run directory) bit-identical to an uninterrupted run; no credential reaches a run file; an unreachable endpoint, a
missing bucket, credentials in the URL and a missing extra are clear errors before training.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from kill_resume import metric_rows, starts, train_in_subprocess

from framework.engine.checkpoint import Checkpointer, list_checkpoints, load_state
from framework.engine.inference import open_checkpoint
from framework.engine.remote_checkpoints import RemoteCheckpoints, check_url
from framework.engine.run import train
from framework.errors import PlaitError
from framework.testing import compose

KEY_ID, SECRET = "AKIAPLAITDUMMYKEY042", "plait-dummy-secret-never-in-a-run-file"
SETTINGS = [
    "trainer.max_steps=8",
    "trainer.checkpoint_every_n_steps=2",
    "trainer.keep_last_checkpoints=1",  # pruning (local and remote) at every save
    "trainer.eval_every_n_steps=4",
    "trainer.log_every_n_steps=1",
    "trainer.num_threads=1",  # the same reductions in this process and in the child
    *("precision=fp32", "task.demo_size=120", "tokenizer.vocab_size=200"),  # a tiny model: the test is the storage
    *("model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """moto's S3 server on a free local port, the environment pointing at it (dummy credentials), bucket `bucket`;
    yields a boto3 client."""
    moto_server = pytest.importorskip("moto.server")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        env.setenv("AWS_MAX_ATTEMPTS", "1")  # an unreachable endpoint fails at once
        client = boto3.client("s3")
        client.create_bucket(Bucket="bucket")
        yield client
    server.stop()


def _keys(client: Any, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket="bucket", Prefix=prefix).get("Contents", [])
    return sorted(item["Key"][len(prefix) :] for item in listed)


def _assert_no_credential(run_dir: Path) -> None:
    for file in run_dir.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert KEY_ID.encode() not in data and SECRET.encode() not in data, file


@pytest.mark.slow  # one training in a child process (~6 s on 2 cores) and two in this one
def test_killed_during_an_upload_resumes_on_a_new_machine_bit_identical(tmp_path: Path, s3: Any) -> None:
    straight, killed, fresh = tmp_path / "straight", tmp_path / "killed", tmp_path / "new-machine"
    train(compose(SETTINGS), straight)
    url = ["trainer.checkpoint_dir=s3://bucket/run"]
    assert train_in_subprocess(killed, [*SETTINGS, *url], fault="during_upload:4") == 137
    on_s3 = _keys(s3, "run/")
    assert "step_0000002/COMPLETE" in on_s3 and "step_0000002/state.pt" in on_s3  # committed remotely
    assert "step_0000004/state.pt" in on_s3 and "step_0000004/COMPLETE" not in on_s3  # killed mid-upload

    train(compose([*SETTINGS, *url, "trainer.resume=auto"]), fresh)  # an empty directory on another machine
    assert starts(killed) == [0]
    a = load_state(list_checkpoints(straight / "checkpoints")[-1])
    b = load_state(list_checkpoints(fresh / "checkpoints")[-1])
    assert a["step"] == b["step"] == 8
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert metric_rows(fresh) == [row for row in metric_rows(straight) if row["step"] > 2]  # continued at step 2
    on_s3 = _keys(s3, "run/")
    assert {key.split("/")[0] for key in on_s3} == {"step_0000008"} and "step_0000008/COMPLETE" in on_s3
    assert [p.name for p in (fresh / "checkpoints").iterdir()] == ["step_0000008"]
    for run_dir in (killed, fresh):
        _assert_no_credential(run_dir)
    assert "checkpoint_dir: s3://bucket/run" in (fresh / "config.yaml").read_text()

    # plait eval / predict open the remote run: by its URL, or a run directory that kept no checkpoint itself
    remote = open_checkpoint("s3://bucket/run")
    assert remote.state["step"] == 8 and torch.equal(remote.state["model"]["head.weight"], b["model"]["head.weight"])
    for checkpoint in (fresh / "checkpoints").iterdir():
        for file in sorted(checkpoint.rglob("*"), reverse=True):
            file.unlink() if file.is_file() else file.rmdir()
        checkpoint.rmdir()
    assert open_checkpoint(fresh).state["step"] == 8
    assert not any((fresh / "checkpoints").iterdir())  # downloaded into the cache, nothing written into the run


def test_a_missing_bucket_and_an_unreachable_endpoint_fail_before_training(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PlaitError, match="the bucket no-such-bucket does not exist"):
        train(compose(["trainer.checkpoint_dir=s3://no-such-bucket/run"]), tmp_path / "a")
    assert not (tmp_path / "a" / "checkpoints").exists() and not (tmp_path / "a" / "metrics.jsonl").exists()

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    with pytest.raises(PlaitError, match="cannot reach or write the checkpoint storage") as caught:
        train(compose(["trainer.checkpoint_dir=s3://bucket/run"]), tmp_path / "b")
    assert "AWS_ENDPOINT_URL" in str(caught.value) and "no training was started" in str(caught.value)
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_a_fresh_run_over_another_runs_remote_checkpoints_is_refused(tmp_path: Path) -> None:
    url = f"trainer.checkpoint_dir=memory://{tmp_path.name}/run"
    train(compose([url, "trainer.max_steps=3", "trainer.keep_last_checkpoints=0"]), tmp_path / "first")
    remote = RemoteCheckpoints(f"memory://{tmp_path.name}/run", tmp_path / "unused")
    assert remote.remote_steps() == [3]
    with pytest.raises(PlaitError, match=r"already holds checkpoints of a run \(steps 3\)"):
        train(compose([url]), tmp_path / "second")


def test_credentials_in_the_url_and_a_missing_extra_are_refused_without_echoing_them() -> None:
    from framework.engine.validation import validate_config

    with pytest.raises(PlaitError, match="holds credentials") as caught:
        validate_config(compose([f"trainer.checkpoint_dir=s3://{KEY_ID}:{SECRET}@bucket/run"]))
    assert SECRET not in str(caught.value) and KEY_ID not in str(caught.value)
    with pytest.raises(PlaitError, match="options in the URL") as caught:
        check_url("s3://bucket/run?aws_secret_access_key=x")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(PlaitError, match=r"pip install 'plait\[gcs\]'"):
            validate_config(compose(["trainer.checkpoint_dir=gs://bucket/run"]))


def test_uploads_run_in_the_background_and_a_failed_one_keeps_its_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, calls = f"memory://{tmp_path.name}/run", []
    original = RemoteCheckpoints.upload

    def slow_then_failing(self: RemoteCheckpoints, checkpoint: Path) -> None:
        calls.append(checkpoint.name)
        time.sleep(0.4)  # a slow network
        if len(calls) == 1:
            raise ConnectionError("connection reset by peer")
        original(self, checkpoint)

    monkeypatch.setattr(RemoteCheckpoints, "upload", slow_then_failing)
    remote = RemoteCheckpoints(url, tmp_path / "checkpoints")
    checkpointer = Checkpointer(tmp_path / "checkpoints", keep_last=1)
    remote.attach(checkpointer)
    started = time.perf_counter()
    checkpointer.save(1, {"x": 1})
    assert time.perf_counter() - started < 0.3  # the save did not wait for its upload
    checkpointer.save(2, {"x": 2})  # step 1's upload failed: said, and step 1 kept locally until step 2 is up
    assert "uploading step_0000001 to memory://" in capsys.readouterr().err
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step_0000001", "step_0000002"]
    remote.finish()
    assert calls == ["step_0000001", "step_0000002"] and remote.remote_steps() == [2]  # 1 is pruned: not re-sent
    checkpointer.save(3, {"x": 3})  # pruned to keep_last=1, locally and remotely
    remote.finish()
    assert [p.name for p in list_checkpoints(tmp_path / "checkpoints")] == ["step_0000003"]
    assert remote.remote_steps() == [3]


def test_a_kept_checkpoint_whose_upload_failed_is_sent_again_and_the_end_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = {"step_0000001", "step_0000002"}
    original = RemoteCheckpoints.upload

    def flaky(self: RemoteCheckpoints, checkpoint: Path) -> None:
        if checkpoint.name in failing:
            failing.discard(checkpoint.name)
            raise ConnectionError("connection reset by peer")
        original(self, checkpoint)

    monkeypatch.setattr(RemoteCheckpoints, "upload", flaky)
    remote = RemoteCheckpoints(f"memory://{tmp_path.name}/run", tmp_path / "checkpoints")
    checkpointer = Checkpointer(tmp_path / "checkpoints", keep_last=0)  # keeps all: a failed one must be re-sent
    remote.attach(checkpointer)
    checkpointer.save(1, {"x": 1})
    checkpointer.save(2, {"x": 2})  # step 1 failed: sent again now, before step 2
    with pytest.raises(PlaitError, match=r"step_0000002 did not reach memory://.*trainer.resume=auto to upload them"):
        remote.finish()  # step 2 failed at the end of the run
    again = RemoteCheckpoints(f"memory://{tmp_path.name}/run", tmp_path / "checkpoints")
    again.attach(Checkpointer(tmp_path / "checkpoints", keep_last=0))  # the relaunch uploads what is missing
    again.finish()
    assert again.remote_steps() == [1, 2]


class _Mirror:
    """A mirror whose uploads are confirmed only when the test says so."""

    def __init__(self) -> None:
        self.confirmed: set[int] = set()
        self.submitted: list[tuple[str, set[int]]] = []

    def wait(self) -> str | None:
        return None

    def is_confirmed(self, checkpoint: Path) -> bool:
        return int(checkpoint.name[len("step_") :]) in self.confirmed

    def submit(self, checkpoint: Path, keep: set[int]) -> None:
        self.submitted.append((checkpoint.name, keep))


def test_a_local_copy_is_pruned_only_after_its_upload_is_confirmed(tmp_path: Path) -> None:
    checkpointer, mirror = Checkpointer(tmp_path, keep_last=1), _Mirror()
    checkpointer.mirror = mirror
    checkpointer.save(1, {"x": 1})
    checkpointer.save(2, {"x": 2})  # step 1 not uploaded yet: kept locally
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000001", "step_0000002"]
    mirror.confirmed |= {1, 2}
    checkpointer.save(3, {"x": 3})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000003"]
    assert mirror.submitted == [("step_0000001", {1}), ("step_0000002", {2}), ("step_0000003", {3})]
