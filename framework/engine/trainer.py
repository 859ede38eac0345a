"""The training loop: one code path for every precision, read top to bottom.

    for each optimizer step:
        for each of grad_accum_steps micro-batches:
            with precision.autocast(): loss = task.loss(model, batch)
            precision.backward(loss / grad_accum_steps)
        stepped = precision.step(optimizer, clip_grad_norm)   # False when an fp16 overflow skipped it
        if stepped: scheduler.step()                          # the LR follows real updates only
        every n steps: log, evaluate, checkpoint (atomic)

Device values are read (`.item()`) only on logging and evaluation steps, so the host never waits
for the device in between (a loss-scaling strategy reads one overflow flag per step, as GradScaler does).

Non-finite numbers are caught where they are cheap to see: the mean loss on logging steps, the loss
of a step the strategy skipped for overflow, the strategy giving up (loss scale at its minimum), and
every step with `trainer.detect_anomaly_every_step`. Then `_diverged` saves a crash checkpoint,
re-runs the step under hooks (framework.engine.numerics) and names the first module that went non-finite.
"""

from __future__ import annotations

import math
import os
import resource
import time
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from framework.callback import Callback, TrainState
from framework.engine import distributed, numerics
from framework.engine.checkpoint import PREFIX, Checkpointer, rng_state, set_rng_state
from framework.engine.config import TrainerConfig
from framework.engine.evaluation import evaluate
from framework.engine.preemption import Preempted, PreemptionHandler, agree
from framework.engine.prefetch import Prefetcher, pinned, prefetch_depth
from framework.engine.threads import ThreadGovernor
from framework.errors import NonFiniteError, PlaitError
from framework.logger import Logger
from framework.precision import PrecisionStrategy, params_of
from framework.task import Batch, Task


def process_age_s() -> float:
    """Seconds since this process started (from /proc on Linux; elsewhere since the trainer module loaded)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in clock ticks after boot
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, IndexError, ValueError):
        return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this run: CUDA allocator peak on GPU, process peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@dataclass
class Components:
    """The built objects a Trainer drives."""

    model: nn.Module
    task: Task
    precision: PrecisionStrategy
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loggers: list[Logger] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)


@dataclass
class Throughput:
    """The window since the last logged row: wall time, units (tokens or samples) and summed loss."""

    start: float
    loss_sum: torch.Tensor  # on the device; read on logging steps only
    units: int = 0
    micro_batches: int = 0
    data_wait_s: float = 0.0  # seconds the loop waited for its next batch (on the device)

    def add(self, step_loss: torch.Tensor, micro_batches: int) -> None:
        """Count one optimizer step's loss (no host sync)."""
        self.loss_sum += step_loss
        self.micro_batches += micro_batches

    def rate(self) -> float:
        """Units per second since the window started."""
        return self.units / max(time.perf_counter() - self.start, 1e-9)

    def data_wait_share(self) -> float:
        """The share of the window's wall time spent waiting for data, in [0, 1]."""
        return min(1.0, self.data_wait_s / max(time.perf_counter() - self.start, 1e-9))

    def reset(self) -> None:
        """Start a new window now."""
        self.start, self.units, self.micro_batches, self.data_wait_s = time.perf_counter(), 0, 0, 0.0
        self.loss_sum.zero_()


def _every(n: int, step: int) -> bool:
    """True on every n-th step (never when n is 0)."""
    return n > 0 and step % n == 0


@dataclass
class Replay:
    """What re-running the current step needs: the RNG state before it and its micro-batches."""

    rng: tuple[torch.Tensor, torch.Tensor | None]
    batches: list[Batch]


class Trainer:
    """Runs `fit()` over built components; knows nothing of Hydra or concrete components."""

    def __init__(
        self,
        cfg: TrainerConfig,
        parts: Components,
        *,
        run_dir: Path,
        device: torch.device,
        static_state: dict[str, Any] | None = None,
        checkpoint_files: dict[str, Path] | None = None,
        governor: ThreadGovernor | None = None,
    ) -> None:
        self.cfg = cfg
        self.parts = parts
        self.device = device
        self.state = TrainState(max_steps=cfg.max_steps, run_dir=run_dir)
        self.static_state = static_state or {}
        self.checkpoint_files = checkpoint_files or {}
        self.checkpointer = Checkpointer(run_dir / "checkpoints", cfg.keep_last_checkpoints)
        self.last_checkpoint: Path | None = None
        self.history: list[dict[str, float]] = []  # every logged row, for summaries and tests
        self._fit_start = 0.0  # perf_counter() when fit() began
        self._elapsed_before = 0.0  # seconds trained before a resume
        self._replay = Replay(numerics.rng_snapshot(device), [])
        self._window = Throughput(0.0, torch.zeros((), device=device))
        self._state_mb: float | None = None  # see _state_megabytes
        self.governor = governor  # lowers CPU threads while other processes keep the cores busy

    @property
    def observers(self) -> list[Callback]:
        """Loggers first, then callbacks: everything that hears the loop's events."""
        return [*self.parts.loggers, *self.parts.callbacks]

    # -- data ------------------------------------------------------------------------------------

    def _train_batches(self) -> Generator[Batch, None, None]:
        """Endless batches over epochs; `state.epoch`/`batch_in_epoch` always say what comes next.

        With `trainer.prefetch_batches` (on CUDA by default) a thread prepares them ahead (framework.engine.prefetch); the
        state still follows the batches handed out, not the ones read ahead, so checkpoints resume exactly.
        """
        state, depth = self.state, prefetch_depth(self.cfg.prefetch_batches, self.device)
        stream = self._batch_stream(state.epoch, state.batch_in_epoch, pin=depth > 0 and self.device.type == "cuda")
        source = Prefetcher(stream, depth) if depth > 0 else stream
        try:
            for batch, state.epoch, state.batch_in_epoch in source:
                yield batch
        finally:
            source.close()

    def _batch_stream(self, epoch: int, index: int, *, pin: bool) -> Generator[tuple[Batch, int, int], None, None]:
        """`(batch, epoch, batch_in_epoch after it)` from a data position on, endlessly; changes no state.

        With N processes, each round of N consecutive batches of the epoch order gives batch r to rank r
        (an incomplete last round is dropped, so every rank takes the same number of steps);
        `batch_in_epoch` is the global position, the same on every rank. `pin`: batches in pinned memory,
        so that their copies to CUDA run asynchronously.
        """
        world, me = distributed.world_size(), distributed.rank()
        while True:
            produced, round_ = 0, []
            for batch in self.parts.task.batches(
                "train", batch_size=self.cfg.batch_size, epoch_seed=self.cfg.seed + epoch, start=index
            ):
                round_.append(batch)
                if len(round_) == world:
                    produced += 1
                    index += world
                    yield (pinned(round_[me]) if pin else round_[me]), epoch, index
                    round_ = []
            if produced == 0 and index == 0:
                raise PlaitError(
                    f"the train split produced fewer batches than processes ({world}): check the task's training "
                    "data, or lower trainer.batch_size"
                )
            epoch, index = epoch + 1, 0

    # -- the loop --------------------------------------------------------------------------------

    def fit(self) -> dict[str, float]:
        """Train to `max_steps`; returns the last evaluation's metrics (`val/...`)."""
        cfg, state = self.cfg, self.state
        batches = self._train_batches()
        final_metrics: dict[str, float] = dict(state.last_metrics)
        evaluated_at = -1
        if state.step >= cfg.max_steps and state.last_metrics:  # a relaunched finished run: nothing to add
            self._close_loggers("finished")
            return final_metrics
        self._begin()
        try:
            with PreemptionHandler() as stop:
                while state.step < cfg.max_steps:
                    step = state.step + 1
                    log_now = step % cfg.log_every_n_steps == 0 or step == cfg.max_steps
                    step_loss = self._forward_backward(batches)
                    self._update(step_loss, measure=log_now)
                    state.step = step
                    if self.governor is not None:
                        self._govern_threads()
                    for obs in self.observers:
                        obs.on_step_end(state)
                    if log_now:
                        self._log_train_row(step)
                    if _every(cfg.eval_every_n_steps, step):
                        final_metrics, evaluated_at = self.evaluate(), step
                    if _every(cfg.checkpoint_every_n_steps, step):
                        self.save_checkpoint()
                    if agree(stop.requested is not None):  # every rank stops at the same step boundary
                        raise Preempted(stop.requested or "SIGTERM", step, self._checkpoint_this_step())
            if evaluated_at != state.step:
                final_metrics = self.evaluate()
            self._checkpoint_this_step()
        except BaseException as exc:
            interrupted = isinstance(exc, (KeyboardInterrupt, Preempted))
            self._close_loggers("interrupted" if interrupted else "failed")
            raise
        finally:
            batches.close()  # stops the prefetching thread now, not at garbage collection
        for obs in self.observers:
            obs.on_fit_end(state, final_metrics)
        self._close_loggers("finished")
        return final_metrics

    def _begin(self) -> None:
        """Start the clocks and the throughput window, tell the observers, put the model in training mode."""
        self._fit_start = time.perf_counter()
        self._window = Throughput(self._fit_start, torch.zeros((), device=self.device))
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)  # per run, also when a sweep runs several in one process
        for obs in self.observers:
            obs.on_fit_start(self.state)
        self.parts.model.train()

    def _forward_backward(self, batches: Iterator[Batch]) -> torch.Tensor:
        """Forward and backward over `grad_accum_steps` micro-batches; returns their summed loss (detached)."""
        p, accum = self.parts, self.cfg.grad_accum_steps
        self._replay = Replay(numerics.rng_snapshot(self.device), [])  # to re-run this step if it diverges
        step_loss: torch.Tensor | None = None
        for i in range(accum):
            waited = time.perf_counter()
            batch = next(batches)
            self._window.units += batch.n_tokens if p.task.throughput_unit == "tokens" else batch.n_samples
            batch = batch.to(self.device)
            self._window.data_wait_s += time.perf_counter() - waited
            self._replay.batches.append(batch)
            with self._no_sync(i < accum - 1):
                with p.precision.autocast():
                    loss = p.task.loss(p.model, batch)
                p.precision.backward(loss / accum if accum > 1 else loss)
            micro = loss.detach().float()
            step_loss = micro if step_loss is None else step_loss + micro
        assert step_loss is not None
        self._window.add(step_loss, accum)
        return step_loss

    def _no_sync(self, non_final: bool) -> Any:
        """Skip the cross-rank gradient all-reduce on non-final micro-batches, where gradients stay on the model
        until the step (not with master weights, which move them away after each backward)."""
        p = self.parts
        keeps_grads = p.precision.optimizer_target(distributed.unwrap(p.model)) is distributed.unwrap(p.model)
        return distributed.no_sync(p.model, non_final and keeps_grads)

    def _update(self, step_loss: torch.Tensor, *, measure: bool) -> None:
        """The optimizer step through the precision strategy; the scheduler follows real updates only."""
        p = self.parts
        if self.cfg.detect_anomaly_every_step:  # one host sync per step, only when asked for
            self._check_finite(step_loss)
        try:
            stepped = p.precision.step(p.optimizer, self.cfg.clip_grad_norm, measure=measure)
        except NonFiniteError as exc:  # e.g. overflow at the minimum loss scale
            self._diverged(str(exc))
        if stepped:
            p.scheduler.step()
        elif not bool(torch.isfinite(step_loss)):  # read only on overflow steps (already synced)
            self._diverged("the training loss is non-finite (loss scaling cannot fix a forward overflow)")

    def _govern_threads(self) -> None:
        """Let the governor adjust CPU threads to what neighbours leave free; say so when it changes them."""
        assert self.governor is not None
        change = self.governor.tick()
        if change is not None and distributed.is_main():
            print(f"step {self.state.step}: {change}", flush=True)

    def _log_train_row(self, step: int) -> None:
        """Log the training row of the window since the last one (the only place that reads device values)."""
        p, window = self.parts, self._window
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # honest timing on logging steps only
        row = {
            "train/loss": distributed.mean(window.loss_sum).item() / window.micro_batches,
            "train/lr": p.optimizer.param_groups[0]["lr"],
            f"train/{p.task.throughput_unit}_per_s": window.rate(),
            "train/epoch": self.state.epoch,
            "sys/elapsed_s": self.elapsed_s(),
            "sys/peak_memory_mb": peak_memory_mb(self.device),
            "sys/state_mb": self._state_megabytes(),
            "sys/data_wait_share": window.data_wait_share(),
        }
        if self.governor is not None:
            row["sys/threads"] = self.governor.threads
            row["sys/cpu_neighbours"] = self.governor.others
        if not self.history:  # the first row of this process: how long start-up took
            row["sys/startup_s"] = process_age_s()
        row.update({f"precision/{k}": v for k, v in p.precision.metrics().items()})
        self._log(row, step)
        if not math.isfinite(row["train/loss"]):
            self._diverged(f"the mean training loss of the steps up to {step} is non-finite")
        window.reset()

    def _checkpoint_this_step(self) -> Path:
        """The checkpoint of the current step: the one already written, else a new one."""
        if self.last_checkpoint is None or not self.last_checkpoint.name.endswith(f"{self.state.step:07d}"):
            self.save_checkpoint()
        assert self.last_checkpoint is not None
        return self.last_checkpoint

    def _close_loggers(self, status: str) -> None:
        for logger in self.parts.loggers:
            logger.close(self.state, status)

    # -- numerics --------------------------------------------------------------------------------

    def _check_finite(self, step_loss: torch.Tensor) -> None:
        """Every-step check: the loss, and the gradients unless the strategy skips overflows itself."""
        p = self.parts
        grads = [] if p.precision.handles_overflow else [t.grad for t in params_of(p.optimizer)]
        if not numerics.all_finite([step_loss, *grads]):
            self._diverged("non-finite loss or gradient (trainer.detect_anomaly_every_step)")

    def _diverged(self, reason: str) -> NoReturn:
        """Save a crash checkpoint, re-run this step's batches under hooks, write nan_report.json and raise.

        The crash checkpoint (`<run>/crash/`, never picked by resume=auto) holds the weights of the last
        finished step; its data position is past the failing batches.
        """
        p, s = self.parts, self.state
        state, crash_dir = self.state_dict(), Checkpointer(s.run_dir / "crash", keep_last=1)
        crash = crash_dir.save(s.step, state, self.checkpoint_files) if distributed.is_main() else crash_dir.directory
        numerics.restore_rng(self._replay.rng, self.device)
        finding = None
        for batch in self._replay.batches:

            def compute_loss(batch: Batch = batch) -> torch.Tensor:
                with p.precision.autocast():
                    return p.task.loss(p.model, batch)

            finding = numerics.locate_nonfinite(p.model, compute_loss, p.precision.backward)
            if finding is not None:
                break
        report = numerics.NonFiniteReport(s.step, reason, finding, str(crash), p.precision.divergence_advice())
        path = report.write(s.run_dir) if distributed.is_main() else s.run_dir
        metrics = {f"precision/{k}": v for k, v in p.precision.metrics().items()}
        self._log({"train/diverged": 1.0, **metrics}, s.step)
        raise numerics.DivergenceError(f"{report.message()} Report: {path}")

    def _state_megabytes(self) -> float:
        """Parameters, buffers, optimizer state and precision state (master weights, compensation), in MiB.

        Measured once, on the first logging step (after the first update, all state exists), then reused.
        """
        if self._state_mb is None:
            p = self.parts
            held = [p.model.state_dict(), p.optimizer.state_dict()["state"], p.precision.state_dict()]
            self._state_mb = numerics.tensor_megabytes(numerics.nested_tensors(held))
        return self._state_mb

    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Evaluate on `split` under the precision's autocast; logs and returns `<split>/...` metrics."""
        p = self.parts
        batch_size = self.cfg.eval_batch_size or self.cfg.batch_size
        raw = evaluate(
            distributed.unwrap(p.model),
            p.task,
            split,
            precision=p.precision,
            device=self.device,
            batch_size=batch_size,
            gather=distributed.gather_partials,
            shard=(distributed.rank(), distributed.world_size()),
        )
        metrics = {f"{split}/{k}": v for k, v in raw.items()}
        self.state.last_metrics = metrics
        self._log(metrics, self.state.step)
        for obs in self.observers:
            obs.on_eval_end(self.state, metrics)
        return metrics

    def _log(self, metrics: dict[str, float], step: int) -> None:
        self.history.append({"step": step, **metrics})
        for logger in self.parts.loggers:
            logger.log_metrics(metrics, step)

    # -- checkpoints -----------------------------------------------------------------------------

    def elapsed_s(self) -> float:
        """Wall-clock seconds spent in fit(), summed over resumed segments."""
        return self._elapsed_before + (time.perf_counter() - self._fit_start if self._fit_start else 0.0)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue as if never stopped."""
        p, s = self.parts, self.state
        rngs = distributed.all_gather_object(rng_state())  # dropout streams differ per rank: keep each
        return {
            **self.static_state,
            "step": s.step,
            "elapsed_s": self.elapsed_s(),
            "data": {"epoch": s.epoch, "batch_in_epoch": s.batch_in_epoch, "world_size": distributed.world_size()},
            "last_metrics": s.last_metrics,
            "model": distributed.model_state(p.model),
            "optimizer": distributed.optimizer_state(p.model, p.optimizer),
            "scheduler": p.scheduler.state_dict(),
            "precision": p.precision.state_dict(),
            "observers": [obs.state_dict() for obs in self.observers],
            "rng": rngs[0],
            **({"rng_ranks": rngs} if len(rngs) > 1 else {}),
        }

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        """Restore `state_dict()`; components must already be built the same way."""
        p, s = self.parts, self.state
        distributed.load_model_state(p.model, ckpt["model"])
        p.precision.load_state_dict(ckpt["precision"])
        distributed.load_optimizer_state(p.model, p.optimizer, ckpt["optimizer"])
        p.scheduler.load_state_dict(ckpt["scheduler"])
        for obs, obs_state in zip(self.observers, ckpt.get("observers", []), strict=False):
            obs.load_state_dict(obs_state)
        s.step = int(ckpt["step"])
        self._elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        s.epoch = int(ckpt["data"]["epoch"])
        s.batch_in_epoch = int(ckpt["data"]["batch_in_epoch"])
        saved_world = int(ckpt["data"].get("world_size", 1))
        if saved_world != distributed.world_size() and distributed.is_main():
            warnings.warn(
                f"resuming a run trained on {saved_world} process(es) on {distributed.world_size()}: the data "
                f"continues at the same position, but the global batch is now {distributed.world_size()} x "
                f"trainer.batch_size, so the remaining steps differ from an uninterrupted run",
                stacklevel=2,
            )
        s.last_metrics = dict(ckpt.get("last_metrics", {}))
        rngs = ckpt.get("rng_ranks", [])
        set_rng_state(rngs[distributed.rank()] if len(rngs) == distributed.world_size() else ckpt["rng"])

    def save_checkpoint(self) -> Path:
        """Write an atomic checkpoint of the current step and tell the observers."""
        state = self.state_dict()  # a collective under FSDP: every rank builds it, rank 0 writes it
        if distributed.is_main():
            self.last_checkpoint = self.checkpointer.save(self.state.step, state, self.checkpoint_files)
        else:
            self.last_checkpoint = self.checkpointer.directory / f"{PREFIX}{self.state.step:07d}"
        for obs in self.observers:
            obs.on_checkpoint(self.state, self.last_checkpoint)
        return self.last_checkpoint
