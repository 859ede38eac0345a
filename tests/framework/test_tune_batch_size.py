"""`plait tune batch-size` on the CPU: a 1 GB budget is never exceeded, and the batch found is the largest within it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from framework.engine.batch_finder import (
    PeakMeter,
    accumulation_for,
    find_batch_size,
    parse_size,
    process_memory,
    search_largest,
)
from framework.engine.tuning import Stepper
from framework.errors import PlaitError
from framework.task import CLASSIFICATION, Batch, Partials, Task, TaskSpec, TokenizerFactory

FEATURES, WIDTH = 1024, 4096  # each sample becomes FEATURES x WIDTH floats (16 MiB) inside the model


class Expander(nn.Module):
    """Blows each sample up to FEATURES x WIDTH activations: memory grows with the batch, weights stay tiny."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.1, 1.0, WIDTH))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x.unsqueeze(-1) * self.scale).mean(dim=(1, 2))


class Regression(Task):
    """Fixed-shape batches of random features and targets."""

    def setup(self, tokenizer_factory: TokenizerFactory | None = None) -> TaskSpec:
        return TaskSpec(kind=CLASSIFICATION)

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        pass

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        g = torch.Generator().manual_seed(epoch_seed)
        for _ in range(2):
            x = torch.randn(batch_size, FEATURES, generator=g)
            yield Batch({"x": x, "y": x.mean(-1)}, n_samples=batch_size, n_tokens=batch_size * FEATURES)

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        return torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        return {"n": 1}

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        return {}


def stepper() -> Stepper:
    from framework.kinds import PRECISIONS
    from framework.plugins import load_plugins

    load_plugins()
    torch.manual_seed(0)
    model = Expander()
    return Stepper(
        model,
        Regression(),
        PRECISIONS.build({"_name_": "fp32"}),
        torch.optim.AdamW(model.parameters()),
        torch.device("cpu"),
        batch_size=1,
    )


def test_search_largest_is_powers_of_two_then_a_binary_search() -> None:
    tried: list[int] = []
    assert search_largest(lambda n: tried.append(n) is None and n <= 37, cap=1000) == 37
    assert tried == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]
    assert search_largest(lambda n: n <= 500, cap=100) == 100  # the cap (max_batch, the training examples)
    assert search_largest(lambda n: False, cap=100) == 0


def test_accumulation_keeps_the_wanted_batch() -> None:
    assert accumulation_for(32, 64) == (32, 1)
    assert accumulation_for(512, 200) == (128, 4)  # the fewest steps that divide 512 with a batch that fits
    assert accumulation_for(31, 30) == (16, 2)  # a prime: covered, not exact


@pytest.mark.parametrize(("text", "size"), [("1GB", 10**9), ("512MiB", 2**29), ("2e9", 2 * 10**9), ("1.5 gb", 1.5e9)])
def test_budget_sizes(text: str, size: int) -> None:
    assert parse_size(text) == int(size)


def test_a_bad_budget_says_what_to_write() -> None:
    with pytest.raises(PlaitError, match="1GB, 512MiB"):
        parse_size("lots")


@pytest.mark.slow
def test_a_1gb_budget_on_cpu_is_never_exceeded_and_the_largest_batch_within_it_is_found() -> None:
    # The budget is the whole process's peak resident memory: in the test session that process already holds
    # every library the earlier tests imported, so the search runs in a fresh process, as `plait tune` does.
    if os.environ.get("PLAIT_TUNE_FRESH_PROCESS") != "1":
        here = f"{__file__}::test_a_1gb_budget_on_cpu_is_never_exceeded_and_the_largest_batch_within_it_is_found"
        env = {**os.environ, "PLAIT_TUNE_FRESH_PROCESS": "1"}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", here], env=env,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return
    budget = 10**9
    search = find_batch_size(stepper(), budget=budget, steps=2, max_batch=4096)
    probes = {p.batch: p for p in search.probes}
    best = probes[search.largest]
    assert 8 < search.largest < 200  # the budget, not the cap, decided
    assert best.fits and best.peak_bytes is not None and best.peak_bytes <= budget
    assert all(p.peak_bytes <= budget for p in search.probes if p.fits and p.peak_bytes)
    above = probes[search.largest + 1]  # refined to one sample: the next batch was measured and did not fit
    assert not above.fits and above.peak_bytes is not None and above.peak_bytes > budget
    # a fresh process training at that batch stays within the budget too (the whole process, measured by the kernel)
    fresh = subprocess.run(
        [sys.executable, __file__, str(search.largest)], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(fresh.stdout)["peak"] <= budget


class FailsAbove(Regression):
    """Batches above `limit` fail as an allocation does (the CPU allocator's message; CUDA raises OutOfMemoryError)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        if batch.n_samples > self.limit:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99999999999 bytes.")
        return torch.zeros((), requires_grad=True) + model.scale.sum() * 0  # type: ignore[operator]


def test_an_allocation_failure_means_does_not_fit() -> None:
    s = stepper()
    s.task = FailsAbove(limit=21)
    search = find_batch_size(s, budget=10**12, steps=2, max_batch=64)
    assert search.largest == 21
    failed = [p for p in search.probes if not p.fits]
    assert failed and all(p.note == "out of memory" and p.batch > 21 for p in failed)


if __name__ == "__main__":  # a fresh process: a few steps at the batch given, its peak resident memory printed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    s = stepper()
    s.batch_size = int(sys.argv[1])
    PeakMeter(torch.device("cpu"))  # checks /proc/self/clear_refs
    batches = s.batches()
    for _ in range(2):
        s.step(batches)
    print(json.dumps({"peak": process_memory("VmHWM")}))
