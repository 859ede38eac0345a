"""The fast path: compiled models with plain checkpoints, batches prefetched without breaking exact resume,
the data-wait share in every training row, and the optimizer kernels chosen for the device."""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from toy_training import KillAfterCheckpoint

from framework.engine.build import compile_model
from framework.engine.checkpoint import latest_checkpoint, load_state
from framework.engine.inference import evaluate_split, load_run
from framework.engine.prefetch import Prefetcher, prefetch_depth
from framework.engine.run import train
from framework.kinds import OPTIMIZERS
from framework.testing import compose, run_quick
from plugins.optimizers.configs import AdamWConfig
from plugins.optimizers.torch_optim import fast_kernels, param_groups


def rows(run_dir: Path) -> list[dict[str, float]]:
    """The training rows of metrics.jsonl."""
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in logged if "train/loss" in r]


def final_model(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_state(latest_checkpoint(run_dir / "checkpoints"))["model"]


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "plait-prefetch"]


def test_prefetcher_keeps_order_raises_where_the_producer_failed_and_closes() -> None:
    def failing() -> Iterator[int]:
        yield from range(3)
        raise ValueError("bad record 3")

    got = []
    with pytest.raises(ValueError, match="bad record 3"):
        for item in Prefetcher(failing(), depth=2):
            got.append(item)
    assert got == [0, 1, 2]

    finished = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            finished.set()

    prefetcher = Prefetcher(endless(), depth=1)
    assert [next(prefetcher) for _ in range(5)] == [0, 1, 2, 3, 4]
    prefetcher.close()  # the producer is blocked on a full queue: it must still stop
    assert not prefetcher._thread.is_alive() and finished.is_set()


def test_prefetch_gives_the_same_batches_and_resume_stays_exact(tmp_path: Path) -> None:
    """Inline batches straight == prefetched, Ctrl-C at a checkpoint, resumed prefetched: same losses, weights,
    data position; the thread is gone after the interrupt; every row carries a data-wait share in [0, 1]."""
    common = ["trainer.max_steps=6", "trainer.log_every_n_steps=1", "model.dropout=0.2"]
    inline, resumed = tmp_path / "inline", tmp_path / "resumed"
    run_quick([*common, "trainer.prefetch_batches=0"], inline)
    with pytest.raises(KeyboardInterrupt):
        train(
            compose([*common, "trainer.prefetch_batches=2"]),
            resumed,
            callbacks=[KillAfterCheckpoint(3, KeyboardInterrupt)],
        )
    assert not prefetch_threads()
    assert load_state(latest_checkpoint(resumed / "checkpoints"))["data"]["batch_in_epoch"] == 3  # consumed, not read
    run_quick([*common, "trainer.prefetch_batches=1", "trainer.resume=auto"], resumed)

    assert [r["train/loss"] for r in rows(inline)] == [r["train/loss"] for r in rows(resumed)]
    a, b = final_model(inline), final_model(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    data = [load_state(latest_checkpoint(d / "checkpoints"))["data"] for d in (inline, resumed)]
    assert data[0] == data[1]
    shares = [r["sys/data_wait_share"] for r in rows(inline) + rows(resumed)]
    assert len(shares) == 12 and all(0.0 <= s <= 1.0 for s in shares)
    assert all(r["sys/data_wait_share"] > 0 for r in rows(inline))  # inline, every batch is waited for


def test_prefetch_depth_defaults_to_a_thread_on_cuda_only() -> None:
    assert prefetch_depth(None, torch.device("cpu")) == 0
    assert prefetch_depth(None, torch.device("cuda")) == 2
    assert prefetch_depth(3, torch.device("cpu")) == 3


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records which modules get compiled; compiles with the aot_eager backend: Dynamo and AOTAutograd as in
    production, without inductor's C++ build (about a minute on 2 cores with an empty cache)."""
    names: list[str] = []
    compile_ = nn.Module.compile

    def cheap(self: nn.Module, **kw: object) -> None:
        names.append(type(self).__name__)
        compile_(self, **{"backend": "aot_eager", **kw})

    monkeypatch.setattr(nn.Module, "compile", cheap)
    return names


@pytest.mark.parametrize("precision", ["fp32", "amp_fp16"])
def test_compile_trains_and_its_checkpoint_evaluates_in_an_uncompiled_model(
    tmp_path: Path, precision: str, compiled: list[str]
) -> None:
    result = run_quick([f"precision={precision}", "trainer.compile=true", "trainer.max_steps=3"], tmp_path)
    assert len(compiled) == 1, "trainer.compile=true compiled nothing"
    assert all(math.isfinite(r["train/loss"]) for r in rows(tmp_path))
    state = final_model(tmp_path)
    assert not any("_orig_mod" in k for k in state)
    reopened = load_run(tmp_path)  # strict load_state_dict into a freshly built model
    assert reopened.model._compiled_call_impl is None and len(compiled) == 1  # inference does not compile
    assert set(reopened.model.state_dict()) == set(state)
    assert evaluate_split(reopened, "val")["val/loss"] == pytest.approx(result.metrics["val/loss"], rel=1e-4)


def test_compile_model_with_inductor_matches_eager_and_keeps_plain_keys() -> None:
    """The real backend (generated C++ on CPU) on a small module: same outputs and gradients, same state keys."""
    torch.manual_seed(0)
    eager = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16))
    model = copy.deepcopy(eager)
    assert compile_model(model) is model and model._compiled_call_impl is not None
    x = torch.randn(4, 8)
    for m in (eager, model):
        m(x).square().sum().backward()
    torch.testing.assert_close(model(x), eager(x))
    for a, b in zip(model.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    assert list(model.state_dict()) == list(eager.state_dict())


def kernels(name: str, device: str) -> dict[str, object]:
    optimizer = OPTIMIZERS.build({"_name_": name}, model=nn.Linear(4, 4).to(device))
    return {k: optimizer.defaults.get(k) for k in ("fused", "foreach")}


def test_optimizer_uses_fused_kernels_on_cpu_where_torch_has_them() -> None:
    """Fused CPU kernels measured ~3x torch's default loop; RMSprop has none and keeps the default."""
    for name in ("adamw", "adam", "sgd", "adagrad"):
        assert kernels(name, "cpu") == {"fused": True, "foreach": None}, name
    assert kernels("rmsprop", "cpu") == {"fused": None, "foreach": None}
    ints = [nn.Parameter(torch.ones(2)), torch.ones(2, dtype=torch.int64)]
    assert fast_kernels(torch.optim.AdamW, ints) == {}  # fused needs floating tensors: torch decides


def test_optimizer_fused_step_matches_the_default_step() -> None:
    """Same update up to rounding, so the choice changes speed, not training."""
    torch.manual_seed(0)
    models = [nn.Linear(8, 8) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    fused = OPTIMIZERS.build({"_name_": "adamw"}, model=models[0])
    plain = torch.optim.AdamW(param_groups(models[1], AdamWConfig.weight_decay), lr=fused.defaults["lr"])
    x = torch.randn(4, 8)
    for model, opt in zip(models, (fused, plain), strict=True):
        for _ in range(3):
            model(x).square().mean().backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.gpu
def test_optimizer_uses_fused_kernels_on_cuda() -> None:
    assert kernels("adamw", "cuda") == {"fused": True, "foreach": None}
    assert kernels("rmsprop", "cuda") == {"fused": None, "foreach": True}
