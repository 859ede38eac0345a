"""callback=ema: the average against its closed form, fp32 under every precision, val_ema/ beside val/, exact
resume, and `plait eval <run> weights=ema` reproducing the logged val_ema metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy_training import KillAfterCheckpoint, Killed, toy_trainer

import plugins.callbacks  # noqa: F401  (registers ema where the entry point is not installed yet)
from framework.callback import Callback, TrainState
from framework.cli.commands import eval as eval_command
from framework.cli.commands import export as export_command
from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.weights import weight_sets
from framework.errors import PlaitError
from framework.testing import run_quick
from plugins.callbacks.ema import EMA, EMAConfig


class Snapshots(Callback):
    """The model's floating weights at fit start (index 0) and after every step, in fp32."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def _take(self, state: TrainState) -> None:
        assert state.model is not None
        self.weights.append(
            {k: v.float().clone() for k, v in state.model.state_dict().items() if v.is_floating_point()}
        )

    def on_fit_start(self, state: TrainState) -> None:
        self._take(state)

    def on_step_end(self, state: TrainState) -> None:
        self._take(state)


def closed_form(weights: list[dict[str, torch.Tensor]], decays: list[float], every: int) -> dict[str, torch.Tensor]:
    """a_n = prod(d) w_0 + sum_k (1 - d_k) prod_{j > k} d_j w_{s_k}, over the update steps s_k = every, 2 every, ..."""
    steps = list(range(every, len(weights), every))
    out = {}
    for name, w0 in weights[0].items():
        coeff = torch.tensor(decays[: len(steps)], dtype=torch.float64).prod()
        total = coeff * w0.double()
        for k, s in enumerate(steps):
            later = torch.tensor(decays[k + 1 : len(steps)], dtype=torch.float64).prod()
            total += (1 - decays[k]) * later * weights[s][name].double()
        out[name] = total
    return out


@pytest.mark.parametrize(
    ("options", "decays"),
    [
        ({"decay": 0.7}, [0.7] * 6),
        ({"decay": 0.7, "warmup": True}, [min(0.7, (1 + t) / (10 + t)) for t in range(6)]),  # 0.1, 0.18, ...
        ({"decay": 0.5, "update_every_n_steps": 2}, [0.5] * 3),
    ],
    ids=["constant", "warmup", "every_2"],
)
def test_average_matches_the_closed_form(tmp_path: Path, options: dict, decays: list[float]) -> None:
    ema, snaps = EMA(EMAConfig(**options)), Snapshots()
    toy_trainer("fp32", tmp_path, callbacks=[snaps, ema]).fit()
    every = options.get("update_every_n_steps", 1)
    assert ema.updates == 6 // every
    expected = closed_form(snaps.weights, decays, every)
    assert ema.average is not None and ema.average.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(ema.average[name].double(), value, rtol=0, atol=1e-6)


@pytest.mark.parametrize("precision", ["amp_bf16", "bf16", "fp16_master"])
def test_the_average_is_fp32_whatever_the_precision(tmp_path: Path, precision: str) -> None:
    ema, snaps = EMA(EMAConfig(decay=0.8)), Snapshots()
    trainer = toy_trainer(precision, tmp_path, callbacks=[snaps, ema])
    trainer.fit()
    model_dtypes = {v.dtype for v in trainer.parts.model.state_dict().values() if v.is_floating_point()}
    assert ema.average is not None and {v.dtype for v in ema.average.values()} == {torch.float32}
    expected = closed_form(snaps.weights, [0.8] * 6, 1)
    for name, value in expected.items():  # averaged in fp32 from the model's (maybe bf16/fp16) weights
        torch.testing.assert_close(ema.average[name].double(), value, rtol=0, atol=1e-6)
    if precision != "amp_bf16":  # the model itself holds narrow weights; the average does not round to them
        assert model_dtypes & {torch.bfloat16, torch.float16}
        name = "proj.weight"
        assert not torch.equal(ema.average[name], ema.average[name].to(trainer.parts.model.proj.weight.dtype).float())


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_val_ema_is_logged_beside_val_and_training_is_untouched(tmp_path: Path) -> None:
    plain = toy_trainer("fp32", tmp_path / "plain")
    plain.fit()
    ema = EMA(EMAConfig(decay=0.5))
    with_ema = toy_trainer("fp32", tmp_path / "ema", callbacks=[ema])
    final = with_ema.fit()

    evals = [r for r in rows(tmp_path / "ema") if "val_ema/loss" in r]
    assert [r["step"] for r in evals] == [3, 6]
    assert {"val_ema/loss", "val_ema/accuracy", "val/loss", "val/accuracy"} <= final.keys()
    train_losses = [(r["step"], r["train/loss"]) for r in with_ema.history if "train/loss" in r]
    assert train_losses == [(r["step"], r["train/loss"]) for r in plain.history if "train/loss" in r]
    raw = {k: v for k, v in final.items() if k.startswith("val/")}
    assert raw == {k: v for k, v in plain.evaluate().items() if k.startswith("val/")}  # raw weights put back exactly
    assert final["val_ema/loss"] != final["val/loss"]
    assert with_ema.evaluate_with("val", ema.average, prefix="check")["check/loss"] == final["val_ema/loss"]


def test_resume_restores_the_average_exactly(tmp_path: Path) -> None:
    straight = EMA(EMAConfig(decay=0.6, warmup=True))
    toy_trainer("fp32", tmp_path / "straight", callbacks=[straight]).fit()
    with pytest.raises(Killed):
        toy_trainer(
            "fp32", tmp_path / "resumed", callbacks=[EMA(EMAConfig(decay=0.6, warmup=True)), KillAfterCheckpoint(3)]
        ).fit()
    resumed = EMA(EMAConfig(decay=0.6, warmup=True))
    toy_trainer("fp32", tmp_path / "resumed", resume=True, callbacks=[resumed]).fit()

    assert resumed.updates == straight.updates == 6
    assert straight.average is not None and resumed.average is not None
    for name, value in straight.average.items():
        assert torch.equal(resumed.average[name], value), name
    a = weight_sets(load_state(latest_checkpoint(tmp_path / "straight" / "checkpoints")))["ema"]
    b = weight_sets(load_state(latest_checkpoint(tmp_path / "resumed" / "checkpoints")))["ema"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logged = [{k: v for k, v in r.items() if "val" in k or k == "step"} for r in rows(tmp_path / "straight")]
    again = [{k: v for k, v in r.items() if "val" in k or k == "step"} for r in rows(tmp_path / "resumed")]
    assert [r for r in logged if len(r) > 1] == [r for r in again if len(r) > 1]


SMALL = ["precision=fp32", "tokenizer=char", "model.d_model=16", "model.n_heads=2", "model.d_ff=32", "model.n_layers=1"]


def test_eval_with_weights_ema_gives_the_logged_ema_metrics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    result = run_quick([*SMALL, "task.demo_size=200", "callback=[ema]", "callback.ema.decay=0.5"], run)
    checkpoint = latest_checkpoint(run / "checkpoints")

    eval_command.main([str(run), "split=val", "weights=ema"])
    ema = json.loads((checkpoint / "eval_val_ema.json").read_text())
    assert ema["weights"] == "ema"
    for key, value in ema["metrics"].items():
        assert value == pytest.approx(result.metrics[key.replace("val/", "val_ema/")], abs=1e-6), key

    eval_command.main([str(run), "split=val"])
    raw = json.loads((checkpoint / "eval_val.json").read_text())["metrics"]
    assert raw == pytest.approx({k: v for k, v in result.metrics.items() if k.startswith("val/")}, abs=1e-6)
    assert "weights: ema" in capsys.readouterr().err

    with pytest.raises(PlaitError, match="keeps no such weights.*model, ema"):
        eval_command.main([str(run), "split=val", "weights=swa"])
    with pytest.raises(PlaitError, match="exports to transformers"):  # parsed and loaded with the ema weights
        export_command.main([str(run), str(tmp_path / "out"), "weights=ema", "format=transformers"])
