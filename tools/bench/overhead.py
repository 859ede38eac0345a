"""Per-step overhead of Plait's Trainer against a hand-written loop doing the same arithmetic.

    OMP_NUM_THREADS=1 python tools/bench/overhead.py [--blocks 30] [--sizes tiny,small] [--variants ...]

One process, one thread. The Trainer trains a model; every 10 of its steps a callback runs 10 steps of a
hand-written loop on an identical copy of the model (same batches in the same order, same AdamW param
groups, fp32, clipping whenever Plait clips) and times them, so the two alternate in blocks of 10 and
machine noise hits both alike. Plait's block time excludes the callback. Reports the median block times,
the throughput ratio and the fixed overhead in ms per step (medians over adjacent block pairs), and whether every loss
and every final weight is bit-identical. Each variant switches one optional per-step piece off (or on).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.callback import Callback, TrainState
from framework.engine import numerics
from framework.engine.config import TrainerConfig
from framework.engine.trainer import Components, Trainer
from framework.kinds import PRECISIONS, SCHEDULERS
from framework.plugins import load_plugins
from framework.task import LANGUAGE_MODELING, Batch, Task, TaskSpec
from plugins.optimizers.torch_optim import param_groups

BLOCK = 10
SIZES = {  # name: (layers, width, batch, length)
    "tiny": (1, 32, 8, 16),
    "small": (2, 256, 32, 64),
}
VOCAB = 256
LR, WEIGHT_DECAY = 1e-3, 0.01


class TinyLM(nn.Module):
    """Embedding -> pre-norm Transformer layers (causal, no dropout) -> tied head: (B, T) -> (B, T, V)."""

    def __init__(self, layers: int, width: int, length: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.pos = nn.Parameter(torch.randn(length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, max(1, width // 32), 4 * width, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def forward(self, ids: Tensor) -> Tensor:
        h = self.blocks(self.embed(ids) + self.pos[: ids.shape[1]], mask=self.mask, is_causal=True)
        return self.norm(h) @ self.embed.weight.T


def lm_loss(model: nn.Module, ids: Tensor) -> Tensor:
    """Next-token cross-entropy."""
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, VOCAB).float(), ids[:, 1:].reshape(-1))


class RandomTokens(Task):
    """Fixed random token batches; records every training loss so Plait's can be compared with the raw loop's."""

    def __init__(self, batch: int, length: int, n_batches: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.data = [torch.randint(0, VOCAB, (batch, length + 1), generator=g) for _ in range(n_batches)]
        self.losses: list[Tensor] = []

    def setup(self, tokenizer_factory: Any = None) -> TaskSpec:
        return TaskSpec(kind=LANGUAGE_MODELING, vocab_size=VOCAB)

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        for ids in self.data[start:]:
            yield Batch({"ids": ids}, n_samples=ids.shape[0], n_tokens=ids.numel())

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        loss = lm_loss(model, batch["ids"])
        self.losses.append(loss.detach())
        return loss

    def restore(self, spec: TaskSpec, tokenizer_factory: Any) -> None:
        pass

    def eval_step(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return {"loss": lm_loss(model, batch["ids"]).detach()}

    def reduce(self, partials: list[dict[str, float]]) -> dict[str, float]:
        return {"loss": sum(p["loss"] for p in partials) / len(partials)}  # one-number partials arrive as numbers


class RawLoop:
    """The hand-written loop: forward, backward, (clip), AdamW step, zero grads. Nothing else."""

    def __init__(self, model: nn.Module, data: list[Tensor], clip: float | None) -> None:
        self.model, self.data, self.clip = model, data, clip
        self.opt = torch.optim.AdamW(param_groups(model, WEIGHT_DECAY), lr=LR)
        self.i = 0
        self.losses: list[Tensor] = []

    def steps(self, n: int) -> float:
        """Run `n` steps; seconds taken."""
        t0 = time.perf_counter()
        for _ in range(n):
            loss = lm_loss(self.model, self.data[self.i % len(self.data)])
            self.i += 1
            self.losses.append(loss.detach())
            loss.backward()
            if self.clip is not None:  # over the optimizer's parameters, in its order (the norm's sum order)
                torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], self.clip)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0


class Alternate(Callback):
    """Times Plait's steps in blocks of 10 and runs a timed block of the raw loop after each."""

    def __init__(self, raw: RawLoop) -> None:
        self.raw, self.plait_s, self.raw_s = raw, [], []
        self.block, self.last = 0.0, 0.0

    def on_fit_start(self, state: TrainState) -> None:
        self.last = time.perf_counter()

    def on_step_end(self, state: TrainState) -> None:
        self.block += time.perf_counter() - self.last
        if state.step % BLOCK == 0:
            self.plait_s.append(self.block)
            self.raw_s.append(self.raw.steps(BLOCK))
            self.block = 0.0
        self.last = time.perf_counter()


@dataclass
class Variant:
    """One configuration of the Trainer: trainer overrides plus an optional patch of one per-step piece."""

    name: str
    trainer: dict[str, Any]
    patch: Callable[[Components], Callable[[], None]] | None = None  # applies itself; returns an undo


def no_telemetry(parts: Components) -> Callable[[], None]:
    """precision.step never measures (no grad-norm/underflow/update-ratio probes on logging steps)."""
    step = parts.precision.step
    parts.precision.step = lambda opt, clip, measure=False: step(opt, clip, measure=False)
    return lambda: None


def no_replay(parts: Components) -> Callable[[], None]:
    """No RNG snapshot per step (the replay of a diverged step would lose its RNG state)."""
    original = numerics.rng_snapshot
    numerics.rng_snapshot = lambda device: (torch.empty(0), None)
    return lambda: setattr(numerics, "rng_snapshot", original)


VARIANTS = {
    "defaults": Variant("defaults", {}),
    "no_clip": Variant("clip off", {"clip_grad_norm": None}),
    "no_telemetry": Variant("telemetry off", {}, no_telemetry),
    "no_replay": Variant("replay RNG capture off", {}, no_replay),
    "no_logging": Variant("logging steps off (throughput window, state size)", {"log_every_n_steps": 10**9}),
    "finite_every_step": Variant("finite check every step on", {"detect_anomaly_every_step": True}),
    "prefetch": Variant("batches prefetched by a thread (prefetch_batches=2)", {"prefetch_batches": 2}),
    "all_off": Variant(
        "everything optional off",
        {"clip_grad_norm": None, "log_every_n_steps": 10**9},
        lambda parts: (no_telemetry(parts), no_replay(parts))[1],
    ),
}


def measure(size: str, variant: Variant, blocks: int) -> dict[str, Any]:
    """Train Plait and the raw loop side by side; block times, ratio, overhead, bit-identity."""
    layers, width, batch, length = SIZES[size]
    torch.manual_seed(0)
    model = TinyLM(layers, width, length)
    raw_model = TinyLM(layers, width, length)
    raw_model.load_state_dict(model.state_dict())
    task = RandomTokens(batch, length)
    cfg = TrainerConfig(
        max_steps=blocks * BLOCK,
        batch_size=batch,
        eval_every_n_steps=0,
        checkpoint_every_n_steps=0,
        log_every_n_steps=10,
    )
    for key, value in variant.trainer.items():
        setattr(cfg, key, value)
    precision = PRECISIONS.build({"_name_": "fp32"})
    model = precision.setup(model, torch.device("cpu"))
    optimizer = torch.optim.AdamW(param_groups(model, WEIGHT_DECAY), lr=LR)
    scheduler = SCHEDULERS.build({"_name_": "constant"}, optimizer=optimizer, max_steps=cfg.max_steps)
    raw = RawLoop(raw_model, task.data, cfg.clip_grad_norm)
    timer = Alternate(raw)
    parts = Components(model, task, precision, optimizer, scheduler, [], [timer])
    undo = variant.patch(parts) if variant.patch else (lambda: None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            Trainer(cfg, parts, run_dir=Path(tmp), device=torch.device("cpu")).fit()
    finally:
        undo()
    warm = 2  # blocks dropped as warm-up
    pairs = list(zip(timer.plait_s[warm:], timer.raw_s[warm:], strict=True))  # adjacent blocks: same machine phase
    p, r = statistics.median(timer.plait_s[warm:]), statistics.median(timer.raw_s[warm:])
    n = cfg.max_steps
    losses_equal = len(task.losses) >= n and all(
        torch.equal(a, b) for a, b in zip(task.losses[:n], raw.losses[:n], strict=True)
    )
    weights_equal = all(torch.equal(a, b) for a, b in zip(model.parameters(), raw_model.parameters(), strict=True))
    return {
        "size": size,
        "variant": variant.name,
        "raw_ms": 1e3 * r / BLOCK,
        "plait_ms": 1e3 * p / BLOCK,
        "ratio": statistics.median(raw / plait for plait, raw in pairs),
        "overhead_ms": 1e3 * statistics.median(plait - raw for plait, raw in pairs) / BLOCK,
        "identical": losses_equal and weights_equal,
    }


def main() -> None:
    """Run every size x variant; print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=30, help="blocks of 10 steps per side")
    ap.add_argument("--sizes", default="tiny,small")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    load_plugins()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); blocks of {BLOCK} steps, medians")
    print(
        "| model | Plait variant | raw ms/step | Plait ms/step | throughput vs raw | overhead ms/step | bit-identical |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        blocks = args.blocks if size == "tiny" else max(6, args.blocks // 3)
        for key in args.variants.split(","):
            m = measure(size, VARIANTS[key], blocks)
            print(
                f"| {size} | {m['variant']} | {m['raw_ms']:.2f} | {m['plait_ms']:.2f} | {m['ratio']:.3f}x "
                f"| {m['overhead_ms']:+.2f} | {'yes' if m['identical'] else 'NO'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
