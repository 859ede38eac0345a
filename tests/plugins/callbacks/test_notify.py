"""callback=notify: a local webhook (apprise's json:// URL) receives the finish message of a real `plait train` and
the crash message of a run that fails, with the run directory and the final metric; the URL, which holds the
service's token, is in no file of either run; without apprise the error names the extra."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cli_runs import run_cli

from framework.callback import Callback, TrainState
from framework.engine.run import train
from framework.errors import PlaitError
from framework.testing import compose
from plugins.callbacks.notify import wall_time

TOKEN = "T0KEN-4f9c2d"  # the secret part of the URL, as a Slack or Discord webhook has one
TINY = [
    "logger=[console,jsonl]", "precision=fp32", "trainer.device=cpu", "trainer.batch_size=8", "trainer.max_steps=4",
    "trainer.log_every_n_steps=2", "trainer.eval_every_n_steps=2", "task.demo_size=200", "tokenizer=char",
    "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32", "callback=[notify]",
]  # fmt: skip


class Hook(BaseHTTPRequestHandler):
    """Keeps each POSTed JSON body (apprise's json:// payload: title, message, type) on the server."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, **json.loads(body)})  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A local webhook server; PLAIT_NOTIFY_URL points at it. Yields the messages it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("PLAIT_NOTIFY_URL", f"json://127.0.0.1:{server.server_port}/hooks/{TOKEN}")
    yield server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def body_metrics(message: str) -> dict[str, float]:
    """The `name value` lines of a message."""
    pairs = [line.split(" ") for line in message.splitlines() if line.startswith("val/")]
    return {name: float(value) for name, value in pairs}


def files_holding(run_dir: Path, text: str) -> list[str]:
    """Files under `run_dir` whose bytes contain `text`."""
    return [str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


class CrashAt(Callback):
    """Raises after step `step`, as a bug in a component would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, state: TrainState) -> None:
        if state.step == self.step:
            raise RuntimeError(f"a component broke at step {state.step}")


@pytest.mark.slow
def test_finish_and_crash_reach_a_local_webhook_and_the_url_reaches_no_file(
    webhook: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = tmp_path / "finished"
    code, out = run_cli([*TINY, f"hydra.run.dir={finished}"], tmp_path, monkeypatch, capsys)
    assert code == 0, out
    assert [m["title"] for m in webhook] == ["plait finished: finished"] and webhook[0]["type"] == "success"
    message = webhook[0]["message"]
    assert f"run directory: {finished}" in message and "at step 4/4" in message and "wall time: " in message
    summary = json.loads((finished / "summary.json").read_text())
    sent = body_metrics(message)
    assert sent and sent == pytest.approx({k: v for k, v in summary.items() if k in sent}, rel=1e-5)
    assert "val/accuracy" in sent  # the objective, as the run's summary has it

    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="broke at step 3"):
        train(compose([*TINY, "trainer.max_steps=6"]), crashed, callbacks=[CrashAt(3)])
    crash = webhook[1]
    assert crash["title"] == "plait crashed: crashed" and crash["type"] == "failure"
    assert f"run directory: {crashed}" in crash["message"] and "crashed at step 3/6" in crash["message"]
    assert "error: a component broke at step 3" in crash["message"]
    assert body_metrics(crash["message"])["val/loss"] > 0  # the last evaluation (step 2) before the crash
    assert all(m["path"] == f"/hooks/{TOKEN}" for m in webhook)

    assert (finished / "provenance.json").is_file() and (finished / "config.yaml").is_file()
    for run_dir in (finished, crashed):
        assert files_holding(run_dir, TOKEN) == [], f"the notification URL reached a file of {run_dir}"
    assert TOKEN not in capsys.readouterr().out


def test_divergence_preemption_and_every_nth_evaluation_are_sent(webhook: list[dict[str, Any]], tmp_path: Path) -> None:
    from framework.kinds import CALLBACKS
    from framework.plugins import load_plugins

    load_plugins()
    notify = CALLBACKS.build({"_name_": "notify", "every_n_evals": 2}, run_dir=tmp_path)
    state = TrainState(step=0, max_steps=9, run_dir=tmp_path / "run")
    notify.on_fit_start(state)
    for state.step in (3, 6):
        notify.on_eval_end(state, {"val/loss": state.step / 10})
    state.last_metrics = {"val/loss": 0.6}
    notify.on_run_end(state, "diverged", "the mean training loss of the steps up to 7 is non-finite")
    notify.on_run_end(state, "preempted", "stopped on SIGTERM at step 7")
    assert [(m["title"], m["type"]) for m in webhook] == [
        ("plait evaluation: run", "info"), ("plait diverged: run", "failure"), ("plait preempted: run", "warning")
    ]  # fmt: skip
    assert webhook[0]["message"] == f"step 6/9 of {tmp_path / 'run'}\nval/loss 0.6"
    assert "run diverged (non-finite numbers) at step 6/9" in webhook[1]["message"]
    assert "error: the mean training loss of the steps up to 7 is non-finite" in webhook[1]["message"]
    assert "last metrics:\nval/loss 0.6" in webhook[1]["message"]
    assert "resume with trainer.resume=auto" in webhook[2]["message"]


def test_an_unreachable_webhook_is_a_warning_that_does_not_name_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.kinds import CALLBACKS
    from framework.plugins import load_plugins

    load_plugins()
    monkeypatch.setenv("PLAIT_NOTIFY_URL", f"json://127.0.0.1:9/hooks/{TOKEN}")  # port 9: nothing listens
    notify = CALLBACKS.build({"_name_": "notify"}, run_dir=tmp_path)
    with pytest.warns(UserWarning, match=r"could not deliver 'plait crashed: x' to \$PLAIT_NOTIFY_URL") as caught:
        notify.on_run_end(TrainState(step=3, max_steps=6, run_dir=tmp_path / "x"), "crashed", "boom")
    assert all(TOKEN not in str(w.message) for w in caught)


def test_a_missing_url_or_apprise_is_a_clear_error_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from framework.kinds import CALLBACKS
    from framework.plugins import load_plugins

    monkeypatch.delenv("PLAIT_NOTIFY_URL", raising=False)
    code, out = run_cli(["callback=notify", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "PLAIT_NOTIFY_URL, which is not set" in out and not (tmp_path / "run").exists()
    load_plugins()
    with pytest.raises(PlaitError, match=r"environment variable PLAIT_NOTIFY_URL, which is not set .*export"):
        CALLBACKS.build({"_name_": "notify"}, run_dir=tmp_path)
    monkeypatch.setenv("PLAIT_NOTIFY_URL", f"nonsense-{TOKEN}")
    with pytest.raises(PlaitError, match=r"holds no URL apprise can send to \(the value is not shown\)") as err:
        CALLBACKS.build({"_name_": "notify"}, run_dir=tmp_path)
    assert TOKEN not in str(err.value)
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if not installed
    with pytest.raises(PlaitError, match=r"needs the 'apprise' package.*pip install 'plait\[notify\]'"):
        CALLBACKS.build({"_name_": "notify"}, run_dir=tmp_path)


def test_wall_time_reads_as_a_duration() -> None:
    assert [wall_time(s) for s in (12.34, 245, 3723)] == ["12.3s", "4m 05s", "1h 02m 03s"]
