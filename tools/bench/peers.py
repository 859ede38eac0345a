"""Plait beside the loops people would otherwise use: a hand-written loop, Lightning's Trainer, Hugging Face's Trainer.

    OMP_NUM_THREADS=1 python tools/bench/peers.py [--rounds 3] [--sizes tiny,small] [--precisions fp32,bf16]

Every contestant trains the same model (tools/bench/overhead.py's causal Transformer LM, one initial state) on
the same batches in the same order with the same optimizer: AdamW over the same decay / no-decay groups with
torch's fused kernel, gradients clipped to norm 1.0 (Plait's default), lr 1e-3, no schedule. bf16 is autocast
with fp32 weights in every one of them: Plait's `amp_bf16` (what `precision=auto` picks on a CPU with native
bf16), Lightning's `bf16-mixed`, HF's `bf16=True`, `torch.autocast` in the hand-written loop.

Each run of a contestant is a new process, as its users run it: Plait's process keeps freed memory for reuse
(`trainer.cpu_allocator=auto`, which `plait train` applies before building a run), the others keep malloc's
defaults; a control, the hand-written loop in a process with Plait's allocator setting, shows what that setting
alone is worth. A new process per run also draws anew where its memory lands, which moves a step by a few percent
between processes. Rounds alternate the contestants (a new order each round, one process training at a time), so
the machine's load hits all of them alike; in each round a contestant trains from the initial weights for `STEPS`
steps and its steady-state step time is the median of the gaps between step ends, the first `WARM` left out.
Reported: the median over rounds of ms/step, wall and CPU (process time: what a busy shared machine disturbs least),
the hand-written loop's time over each contestant's (above 1.0: faster than it), the final training loss of the last
round (same batches and arithmetic up to kernel order: the losses agree closely) and whether the contestant's
process kept freed memory.
Lightning (`lightning`) and Hugging Face (`transformers`, `accelerate`) are the `bench` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from overhead import LR, SIZES, WEIGHT_DECAY, RandomTokens, TinyLM, lm_loss
from torch import Tensor, nn

from framework import param_groups
from framework.callback import Callback, TrainState
from framework.engine.allocator import apply_cpu_allocator
from framework.engine.config import TrainerConfig
from framework.engine.trainer import Components, Trainer
from framework.kinds import OPTIMIZERS, PRECISIONS, SCHEDULERS
from framework.plugins import load_plugins
from framework.task import Batch

WARM = 5  # step gaps left out of each round's median: first-call allocations, autocast caches
CLIP = 1.0
STEPS = {"tiny": 60, "small": 20}
HAND_WRITTEN = "hand-written (fused AdamW)"  # the baseline of every ratio
PLAIT_PRECISION = {"fp32": "fp32", "bf16": "amp_bf16"}


def fused_adamw(model: nn.Module) -> torch.optim.Optimizer:
    """The best optimizer a user would write: AdamW over decay / no-decay groups with the fused kernel."""
    return torch.optim.AdamW(param_groups(model, WEIGHT_DECAY), lr=LR, fused=True)


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CPU, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class StepClock:
    """Wall-clock and CPU time (this process, every thread) at every step end; steady-state step times are the
    median gaps after WARM steps. CPU time is what another job on a shared machine disturbs least."""

    def __init__(self) -> None:
        self.ends: list[tuple[float, float]] = []
        self.start()

    def start(self) -> None:
        """Forget every mark; the next step starts now."""
        self.ends = [(time.perf_counter(), time.process_time())]

    def tick(self) -> None:
        """Mark the end of a step."""
        self.ends.append((time.perf_counter(), time.process_time()))

    def ms_per_step(self) -> tuple[float, float]:
        """Median gaps between step ends, the first WARM left out: (wall ms, CPU ms)."""
        pairs = list(zip(self.ends, self.ends[1:], strict=False))[WARM:]
        wall = statistics.median(b[0] - a[0] for a, b in pairs)
        cpu = statistics.median(b[1] - a[1] for a, b in pairs)
        return 1e3 * wall, 1e3 * cpu


# -- the contestants: each trains a copy of `init` for `steps` steps; returns (ms/step, final loss) ------------


def hand_written(init: nn.Module, data: list[Tensor], steps: int, precision: str) -> tuple[tuple[float, float], float]:
    """forward under autocast, backward, clip, fused AdamW step, zero grads (set to None). Nothing else."""
    model = copy_of(init)
    opt, clock, loss = fused_adamw(model), StepClock(), torch.zeros(())
    for i in range(steps):
        with autocast(precision):
            loss = lm_loss(model, data[i % len(data)])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        clock.tick()
    return clock.ms_per_step(), float(loss)


class ClockCallback(Callback):
    """Plait: ticks the clock at each step end and keeps the last logged-free loss from the task."""

    def __init__(self, clock: StepClock) -> None:
        self.clock = clock

    def on_step_end(self, state: TrainState) -> None:
        self.clock.tick()


class LastLossTokens(RandomTokens):
    """The bench's batches, keeping only the last training loss, as every contestant here does: a list of every
    step's loss (what tools/bench/overhead.py keeps on both sides, to compare them all) would hold one small tensor
    per step, which alone slows a tiny model's backward by ~15% (docs/performance.md)."""

    last = torch.zeros(())

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        loss = lm_loss(model, batch["ids"])
        self.last = loss.detach()  # detached: the step's graph goes with its backward
        return loss


def plait(init: nn.Module, data: list[Tensor], steps: int, precision: str) -> tuple[tuple[float, float], float]:
    """Plait's Trainer with its defaults (telemetry, finite checks, logging every 10 steps), the built-in AdamW
    factory (fused kernel) and `PLAIT_PRECISION[precision]`."""
    model = copy_of(init)
    task = LastLossTokens(data[0].shape[0], data[0].shape[1] - 1, n_batches=0)
    task.data = [data[i % len(data)] for i in range(steps)]
    strategy = PRECISIONS.build({"_name_": PLAIT_PRECISION[precision]})
    model = strategy.setup(model, torch.device("cpu"))
    cfg = {"_name_": "adamw", "lr": LR, "weight_decay": WEIGHT_DECAY}
    optimizer = OPTIMIZERS.build(cfg, model=strategy.optimizer_target(model))
    scheduler = SCHEDULERS.build({"_name_": "constant"}, optimizer=optimizer, max_steps=steps)
    clock = StepClock()
    tcfg = TrainerConfig(max_steps=steps, batch_size=data[0].shape[0], eval_every_n_steps=0, checkpoint_every_n_steps=0)
    parts = Components(model, task, strategy, optimizer, scheduler, [], [ClockCallback(clock)])
    with tempfile.TemporaryDirectory() as tmp:
        clock.start()
        Trainer(tcfg, parts, run_dir=Path(tmp), device=torch.device("cpu")).fit()
    return clock.ms_per_step(), float(task.last)


def lightning(init: nn.Module, data: list[Tensor], steps: int, precision: str) -> tuple[tuple[float, float], float]:
    """Lightning's Trainer: a LightningModule around the model, `precision=bf16-mixed|32-true`, clipping by norm
    before each optimizer step, no logger, checkpointing, progress bar or summary."""
    import lightning as L

    quiet()  # again: importing lightning set its loggers' levels
    clock, last = StepClock(), [torch.zeros(())]

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = copy_of(init)

        def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
            loss = lm_loss(self.model, batch[0])
            last[0] = loss.detach()
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return fused_adamw(self.model)

        def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
            # Clipped here: Lightning's own gradient_clip_val refuses a fused optimizer under bf16-mixed.
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)

        def on_train_batch_end(self, *args: Any) -> None:
            clock.tick()

    loader = torch.utils.data.DataLoader(Batches(data, steps), batch_size=None)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision="bf16-mixed" if precision == "bf16" else "32-true",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    module = Module()
    clock.start()
    trainer.fit(module, train_dataloaders=loader)
    return clock.ms_per_step(), float(last[0])


class Batches(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """`steps` ready-made batches in order (the loaders do no batching of their own: identical inputs)."""

    def __init__(self, data: list[Tensor], steps: int) -> None:
        self.data, self.steps = data, steps

    def __iter__(self) -> Iterator[tuple[Tensor]]:
        return ((self.data[i % len(self.data)],) for i in range(self.steps))


class LossModel(nn.Module):
    """The model as Hugging Face's Trainer wants it: keyword inputs in, a dict with `loss` out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> dict[str, Tensor]:
        return {"loss": lm_loss(self.model, ids)}


def hf_trainer(init: nn.Module, data: list[Tensor], steps: int, precision: str) -> tuple[tuple[float, float], float]:
    """Hugging Face's Trainer: `bf16=True` on CPU (autocast), `max_grad_norm=1.0`, our fused AdamW passed in, no
    saving, logging or reporting; batches fed in order (one ready batch per item)."""
    from transformers import PrinterCallback, TrainerCallback, TrainingArguments
    from transformers import Trainer as HFTrainer

    clock, model = StepClock(), LossModel(copy_of(init))
    last = [torch.zeros(())]

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.tick()

    class Recording(HFTrainer):  # type: ignore[misc]
        def compute_loss(self, model: nn.Module, inputs: dict[str, Tensor], *args: Any, **kwargs: Any) -> Tensor:
            loss: Tensor = model(**inputs)["loss"]
            last[0] = loss.detach()
            return loss

    items = [{"ids": data[i % len(data)]} for i in range(steps)]
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            max_steps=steps,
            per_device_train_batch_size=1,
            use_cpu=True,
            bf16=precision == "bf16",
            max_grad_norm=CLIP,
            learning_rate=LR,
            lr_scheduler_type="constant",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
        )
        opt = fused_adamw(model.model)
        trainer = Recording(
            model=model,
            args=args,
            train_dataset=items,
            data_collator=lambda rows: rows[0],
            optimizers=(opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)),
            callbacks=[Clock()],
        )
        trainer.remove_callback(PrinterCallback)  # its end-of-training line would interleave with the table
        trainer._get_train_sampler = lambda *a, **k: torch.utils.data.SequentialSampler(items)  # in order
        clock.start()
        trainer.train()
    return clock.ms_per_step(), float(last[0])


CONTESTANTS: dict[str, Callable[[nn.Module, list[Tensor], int, str], tuple[tuple[float, float], float]]] = {
    HAND_WRITTEN: hand_written,
    "Plait (defaults)": plait,
    "Lightning Trainer": lightning,
    "HF Trainer": hf_trainer,
    "control: hand-written + Plait's allocator": hand_written,
}
# whose process keeps freed memory as `plait train` does (trainer.cpu_allocator=auto); the control shows what
# that setting alone is worth to a hand-written loop
ALLOCATOR_CONTESTANTS = ("Plait (defaults)", "control: hand-written + Plait's allocator")


def copy_of(init: nn.Module) -> nn.Module:
    """A fresh model with `init`'s weights (each contestant starts from the same state)."""
    layers, width, length = init.shape  # type: ignore[attr-defined]
    model = TinyLM(layers, width, length)
    model.load_state_dict(init.state_dict())
    return model


def train_in_process(
    name: str,
    init_state: dict[str, Tensor],
    shape: tuple[int, int, int],
    data: list[Tensor],
    precision: str,
    steps: int,
) -> tuple[tuple[tuple[float, float], float], bool]:
    """One round of one contestant, in a fresh process, as its users run it: Plait's applies what `plait train` sets
    up before building (`trainer.cpu_allocator`'s default), the others leave malloc alone. Returns the contestant's
    (ms/step, loss) and whether this process kept freed memory."""
    quiet()
    load_plugins()
    kept = name in ALLOCATOR_CONTESTANTS and apply_cpu_allocator(TrainerConfig().cpu_allocator, "cpu").kept
    init = TinyLM(*shape)
    init.load_state_dict(init_state)
    init.shape = shape  # type: ignore[assignment]
    return CONTESTANTS[name](init, data, steps, precision), kept


def measure(size: str, precision: str, rounds: int, names: list[str]) -> list[dict[str, Any]]:
    """Every contestant `rounds` times, alternating (rotated order per round), each run in a new process (one at a
    time: where a process's memory lands differs by a few percent between processes, so every round draws anew);
    median wall and CPU ms/step, the hand-written loop's over each contestant's, and the last loss."""
    layers, width, batch, length = SIZES[size]
    torch.manual_seed(0)
    init = TinyLM(layers, width, length)
    data = RandomTokens(batch, length).data
    spawn = multiprocessing.get_context("spawn")
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    last: dict[str, float] = {}
    kept: dict[str, bool] = {}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            args = (name, init.state_dict(), (layers, width, length), data, precision, STEPS[size])
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:  # one at a time, a new one each run
                ((ms, cpu_ms), loss), kept[name] = pool.submit(train_in_process, *args).result()
            wall[name].append(ms)
            cpu[name].append(cpu_ms)
            last[name] = loss
    hand_wall, hand_cpu = statistics.median(wall[names[0]]), statistics.median(cpu[names[0]])
    return [
        {
            "size": size,
            "precision": precision,
            "name": n,
            "ms": statistics.median(wall[n]),
            "cpu_ms": statistics.median(cpu[n]),
            "vs_hand": hand_wall / statistics.median(wall[n]),
            "vs_hand_cpu": hand_cpu / statistics.median(cpu[n]),
            "loss": last[n],
            "kept": kept[n],
        }
        for n in names
    ]


def quiet() -> None:
    """Silence the peers' banners and warnings (they would interleave with the table)."""
    warnings.filterwarnings("ignore")
    for name in logging.root.manager.loggerDict:
        if name.split(".")[0] in ("lightning", "lightning_fabric", "pytorch_lightning", "transformers", "accelerate"):
            logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: list[str] | None = None) -> None:
    """Run every size x precision; print the machine line and a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each contestant trains once per round")
    ap.add_argument("--sizes", default="tiny,small")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument(
        "--contestants",
        default=",".join(CONTESTANTS),
        help="comma-separated, the hand-written loop first (the baseline); without the bench extra leave out "
        "Lightning and HF",
    )
    args = ap.parse_args(argv)
    names = args.contestants.split(",")
    unknown = [n for n in names if n not in CONTESTANTS]
    if unknown or names[0] != HAND_WRITTEN:
        ap.error(f"--contestants: {HAND_WRITTEN!r} first, then any of {', '.join(CONTESTANTS)}")
    quiet()
    load_plugins()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {load}; {args.rounds} rounds")
    print(
        "| model | precision | contestant | ms/step | CPU ms/step | hand-written / this: wall, CPU | final loss "
        "| freed memory kept |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        for precision in args.precisions.split(","):
            for m in measure(size, precision, args.rounds, names):
                print(
                    f"| {size} | {precision} | {m['name']} | {m['ms']:.2f} | {m['cpu_ms']:.2f} "
                    f"| {m['vs_hand']:.3f}×, {m['vs_hand_cpu']:.3f}× | {m['loss']:.4f} | {'yes' if m['kept'] else 'no'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
