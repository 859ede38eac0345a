"""Out of memory is one clear error (issue 24: it was a traceback): what was being allocated, the memory the device
has and the keys to change; a model whose parameters cannot fit is refused before it is built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from cli_runs import run_cli
from torch import nn

from framework.engine import memory
from framework.engine.memory import (
    ModelSize,
    is_out_of_memory,
    measure_on_meta,
    out_of_memory,
    requested_bytes,
)
from framework.engine.run_lock import previous_run_files
from framework.errors import InsufficientMemoryError
from framework.testing import QUICK, compose

CPU_FAILURE = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 51539607552 bytes. Error code 12 (Cannot allocate memory)"
)
CUDA_FAILURE = "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB"


def test_allocation_failures_are_recognised_and_sized() -> None:
    assert is_out_of_memory(RuntimeError(CPU_FAILURE)) and requested_bytes(RuntimeError(CPU_FAILURE)) == 48 * 2**30
    cuda = torch.OutOfMemoryError(CUDA_FAILURE)
    assert is_out_of_memory(cuda) and requested_bytes(cuda) == 20 * 2**30
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    assert not is_out_of_memory(ValueError("you tried to allocate"))


def test_measuring_on_meta_uses_no_memory_and_keeps_the_random_state() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    size = measure_on_meta(lambda: nn.Sequential(nn.Linear(1000, 1000), nn.Linear(1000, 10)))
    assert size == ModelSize(1_011_010, 4_044_040, "float32")
    assert str(size) == "1.0 M parameters (3.9 MiB in float32)"
    assert torch.equal(torch.rand(3), expected), "the real build draws the same initial weights"

    def reads_a_file() -> nn.Module:
        raise FileNotFoundError("vectors.txt")

    assert measure_on_meta(reads_a_file) is None  # no estimate; the real build decides


def test_a_model_too_big_for_memory_is_refused_before_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`plait train model.d_model=65536`: 34 G parameters, refused with the count, the bytes and the keys."""
    monkeypatch.setattr(memory, "host_memory", lambda: (4 * 2**30, 8 * 2**30))
    run_dir = tmp_path / "run"
    code, out = run_cli([*QUICK, "model.d_model=65536", f"hydra.run.dir={run_dir}"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out and out.count("error:") == 1
    assert re.search(
        r"error: out of memory for the model: its 34\.\d G parameters \(128\.\d GiB in float32\) do not fit; cpu has "
        r"4\.0 GiB available of 8\.0 GiB\. Shrink the model \(now model\.d_model=65536, model\.n_layers=2, "
        r"model\.d_ff=256\)\.",
        out,
    ), out
    assert previous_run_files(run_dir) == [], "nothing a later run in this directory trips on"


def fail_allocation(self, model: nn.Module, batch: object) -> torch.Tensor:
    """A task method whose allocation fails, as torch's CPU allocator reports it."""
    raise RuntimeError(CPU_FAILURE)


def test_an_allocation_failure_in_a_training_step_is_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from plugins.tasks.classification import ClassificationTask

    run_dir = tmp_path / "run"
    args = [*QUICK, "trainer.max_steps=2", f"hydra.run.dir={run_dir}"]
    with monkeypatch.context() as patch:
        patch.setattr(ClassificationTask, "loss", fail_allocation)
        code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out and out.count("error:") == 1
    assert re.search(
        r"error: out of memory in training step 1, on a batch of 8 examples \(input_ids 8x\d+, attention_mask 8x\d+, "
        r"labels 8\): an allocation of 48\.0 GiB failed; cpu has [\d.]+ GiB available of [\d.]+ GiB\. Lower "
        r"trainer\.batch_size \(now 8; raising trainer\.grad_accum_steps, now 1, keeps the effective batch\), "
        r"shrink the model \(now model\.d_model=128, model\.n_layers=2, model\.d_ff=256\) or set "
        r"model\.activation_checkpointing=true\.",
        out,
    ), out
    assert previous_run_files(run_dir) == []
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)  # a smaller batch would fit: the same directory works
    assert code == 0, out


def test_an_allocation_failure_in_evaluation_names_the_eval_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from plugins.tasks.classification import ClassificationTask

    monkeypatch.setattr(ClassificationTask, "eval_step", fail_allocation)
    args = [*QUICK, "trainer.max_steps=3", "trainer.eval_batch_size=16", f"hydra.run.dir={tmp_path / 'run'}"]
    code, out = run_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out
    assert re.search(
        r"error: out of memory evaluating the val split, on a batch of 16 examples \(input_ids 16x\d+, "
        r"attention_mask 16x\d+, labels 16\): an allocation of 48\.0 GiB failed; cpu has .* Lower "
        r"trainer\.eval_batch_size \(now 16\)\.",
        out,
    ), out


@pytest.mark.gpu
def test_cuda_out_of_memory_is_one_message() -> None:
    device = torch.device("cuda")
    total = torch.cuda.mem_get_info(device)[1]
    guard = out_of_memory(lambda exc: "in a test", device, ["lower trainer.batch_size"])
    with pytest.raises(InsufficientMemoryError) as info, guard:
        torch.empty(2 * total, dtype=torch.uint8, device=device)
    assert re.fullmatch(
        r"out of memory in a test: an allocation of [\d.]+ GiB failed; cuda has [\d.]+ GiB available of [\d.]+ GiB\. "
        r"Lower trainer\.batch_size\.",
        str(info.value),
    ), str(info.value)


@pytest.mark.gpu
def test_an_oversized_batch_on_cuda_is_one_message(tmp_path: Path) -> None:
    """4096 sentences through a 524288-wide feed-forward layer: tens of GiB per activation, more than a GPU has."""
    from framework.engine.run import train

    cfg = compose(
        ["trainer.device=cuda", "precision=fp32", "trainer.batch_size=4096", "model.d_ff=524288", "model.n_layers=1"]
    )
    with pytest.raises(InsufficientMemoryError) as info:
        train(cfg, tmp_path / "run")
    message = str(info.value)
    print(message)
    assert re.match(
        r"out of memory in training step 1, on a batch of 4096 examples \(input_ids 4096x\d+, .*\): an allocation of "
        r"[\d.]+ GiB failed; cuda(:0)? has [\d.]+ GiB available of [\d.]+ GiB\. Lower trainer\.batch_size \(now 4096",
        message,
    ), message
    assert previous_run_files(tmp_path / "run") == []
