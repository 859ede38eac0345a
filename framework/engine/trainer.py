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
every step with `trainer.detect_anomaly_every_step`. Then `_diverged` hands over to
framework.engine.divergence, which saves a crash checkpoint, re-runs the step under hooks and names the
first module that went non-finite.

What a logged row holds (throughput window, memory, state size) is framework.engine.telemetry's.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import torch
from torch import nn

from framework.callback import Callback, TrainState
from framework.engine import distributed, divergence, numerics, overfit
from framework.engine.batching import epoch_batches
from framework.engine.checkpoint import PREFIX, Checkpointer, rng_state, set_rng_state
from framework.engine.config import TrainerConfig
from framework.engine.ending import end_run
from framework.engine.evaluation import evaluate_sets
from framework.engine.phases import BACKWARD, DATA, FORWARD, OPTIMIZER, phase
from framework.engine.preemption import Preempted, PreemptionHandler, agree_all
from framework.engine.prefetch import Prefetcher, pinned, prefetch_depth
from framework.engine.stopping import Watch
from framework.engine.telemetry import Telemetry
from framework.engine.threads import ThreadGovernor
from framework.errors import NonFiniteError, PlaitError
from framework.logger import Logger
from framework.precision import PrecisionStrategy
from framework.task import Batch, Task


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


def _every(n: int, step: int) -> bool:
    """True on every n-th step (never when n is 0)."""
    return n > 0 and step % n == 0


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
        watch: Watch | None = None,
    ) -> None:
        self.cfg = cfg
        self.parts = parts
        self.device = device
        self.state = TrainState(max_steps=cfg.max_steps, run_dir=run_dir, model=distributed.unwrap(parts.model))
        self.state.evaluate = self.evaluate_with  # callbacks' way to evaluate other weights (framework/callback.py)
        self.static_state = static_state or {}
        self.checkpoint_files = checkpoint_files or {}
        self.watch = watch or Watch(cfg, None)  # best checkpoints, early stopping, max_time: framework.engine.stopping
        self.checkpointer = Checkpointer(run_dir / "checkpoints", cfg.keep_last_checkpoints, keeper=self.watch)
        self.last_checkpoint: Path | None = None
        self.history: list[dict[str, float]] = []  # every logged row, for summaries and tests
        self._fit_start = 0.0  # perf_counter() when fit() began
        self._elapsed_before = 0.0  # seconds trained before a resume
        self._replay = divergence.Replay.before_step(device)
        self._finite = numerics.FiniteCheck()  # detect_anomaly_every_step's check, its flags kept between steps
        self._telemetry = Telemetry(device, parts.model, parts.optimizer, parts.precision)
        self.governor = governor  # lowers CPU threads while other processes keep the cores busy

    @property
    def observers(self) -> list[Callback]:
        """Loggers first, then callbacks: everything that hears the loop's events."""
        return [*self.parts.loggers, *self.parts.callbacks]

    # -- data ------------------------------------------------------------------------------------

    def train_batches(self) -> Generator[Batch, None, None]:
        """Endless batches over epochs; `state.epoch`/`batch_in_epoch` always say what comes next.

        With `trainer.prefetch_batches` (on CUDA by default) a thread prepares them ahead (framework.engine.prefetch); the
        state still follows the batches handed out, not the ones read ahead, so checkpoints resume exactly.
        """
        state, depth = self.state, prefetch_depth(self.cfg.prefetch_batches, self.device)
        stream = self._batch_stream(state.epoch, state.batch_in_epoch, pin=depth > 0 and self.device.type == "cuda")
        stream = overfit.repeat_first(stream, self.cfg.overfit_batches) if self.cfg.overfit_batches else stream
        source = Prefetcher(stream, depth) if depth > 0 else stream
        try:
            for batch, state.epoch, state.batch_in_epoch in source:
                yield batch
        finally:
            source.close()

    def _batch_stream(self, epoch: int, index: int, *, pin: bool) -> Generator[tuple[Batch, int, int], None, None]:
        """`(batch, epoch, batch_in_epoch after it)` from a data position on, endlessly; changes no state.

        With N processes, each round of N consecutive batches of the epoch order gives batch r to rank r
        (framework.engine.batching: `trainer.batch_size` examples, or `trainer.max_tokens` tokens, each; an
        incomplete last round is dropped, so every rank takes the same number of steps);
        `batch_in_epoch` is the global position, the same on every rank. `pin`: batches in pinned memory,
        so that their copies to CUDA run asynchronously.
        """
        world, me = distributed.world_size(), distributed.rank()
        while True:
            produced = 0
            for batch in epoch_batches(self.parts.task, self.cfg, epoch=epoch, start=index, rank=me, world=world):
                produced += 1
                index += world
                yield (pinned(batch) if pin else batch), epoch, index
            if produced == 0 and index == 0:
                raise PlaitError(
                    f"the train split produced fewer batches than processes ({world}): check the task's training "
                    "data, or lower trainer.batch_size (trainer.max_tokens)"
                )
            epoch, index = epoch + 1, 0

    # -- the loop --------------------------------------------------------------------------------

    def fit(self) -> dict[str, float]:
        """Train to `max_steps`; returns the last evaluation's metrics (`val/...`)."""
        cfg, state = self.cfg, self.state
        batches = self.train_batches()
        final_metrics: dict[str, float] = dict(state.last_metrics)
        evaluated_at = -1
        if state.last_metrics and (state.step >= cfg.max_steps or self.watch.finished):  # relaunched, finished
            self._end()
            return final_metrics
        self._begin()
        try:
            with PreemptionHandler() as stop:
                while state.step < cfg.max_steps:
                    step = state.step + 1
                    log_now = step % cfg.log_every_n_steps == 0 or step == cfg.max_steps
                    self.train_step(batches, measure=log_now)
                    state.step = step
                    if self.governor is not None:
                        self.governor.tick_and_say(step, loud=distributed.is_main())
                    for obs in self.observers:
                        obs.on_step_end(state)
                    if log_now:
                        self._log_train_row(step)
                    if _every(cfg.eval_every_n_steps, step):
                        final_metrics, evaluated_at = self.evaluate(), step
                    if _every(cfg.checkpoint_every_n_steps, step):
                        self._checkpoint_this_step()  # written already when this evaluation is among the best
                    signalled, asked, late = agree_all(self.watch.at_boundary(state, stop.requested))  # all ranks
                    if signalled:
                        raise Preempted(stop.requested or "SIGTERM", step, self._checkpoint_this_step())
                    if asked or late:  # a callback or early stopping asked, or trainer.max_time is near: say why
                        self._log(self.watch.stop(state, final=asked), step)
                        break
            if evaluated_at != state.step:
                final_metrics = self.evaluate()
            self._checkpoint_this_step()
        except BaseException as exc:
            self._end(exc)  # diverged, crashed or preempted: framework.engine.ending
            raise
        finally:
            batches.close()  # stops the prefetching thread now, not at garbage collection
        for obs in self.observers:
            obs.on_fit_end(state, final_metrics)
        self._end()
        return final_metrics

    def _begin(self) -> None:
        """Start the clocks and the throughput window, tell the observers, put the model in training mode."""
        self._fit_start = time.perf_counter()
        self._telemetry.start(self._fit_start)
        self.watch.begin(self.checkpointer.directory)
        for obs in self.observers:
            obs.on_fit_start(self.state)
        self.parts.model.train()

    def train_step(self, batches: Iterator[Batch], *, measure: bool) -> torch.Tensor:
        """One optimizer step from the current state on the next `batches`; returns its loss (also for debug checks)."""
        self._update(step_loss := self._forward_backward(batches), measure=measure)
        return step_loss

    def _forward_backward(self, batches: Iterator[Batch]) -> torch.Tensor:
        """Forward and backward over `grad_accum_steps` micro-batches; returns their summed loss (detached)."""
        p, accum, window = self.parts, self.cfg.grad_accum_steps, self._telemetry.window
        self._replay = divergence.Replay.before_step(self.device)  # to re-run this step if it diverges
        step_loss: torch.Tensor | None = None
        for i in range(accum):
            waited = time.perf_counter()
            with phase(DATA):  # named ranges for trainer.profiler (framework.engine.profiling)
                batch = next(batches)
                window.units += batch.n_tokens if p.task.throughput_unit == "tokens" else batch.n_samples
                batch = batch.to(self.device)
            window.data_wait_s += time.perf_counter() - waited
            self._replay.batches.append(batch)
            with self._no_sync(i < accum - 1):
                with phase(FORWARD), p.precision.autocast():
                    loss = p.task.loss(p.model, batch)
                with phase(BACKWARD):
                    p.precision.backward(loss / accum if accum > 1 else loss)
            micro = loss.detach().float()
            step_loss = micro if step_loss is None else step_loss + micro
        assert step_loss is not None
        window.add(step_loss, accum)
        return step_loss

    def _no_sync(self, non_final: bool) -> Any:
        """Skip the cross-rank gradient all-reduce on non-final micro-batches, where gradients stay on the model
        until the step (not with master weights, which move them away after each backward)."""
        if not non_final:  # the last (usually the only) micro-batch: nothing to decide, every step
            return contextlib.nullcontext()
        p = self.parts
        keeps_grads = p.precision.optimizer_target(distributed.unwrap(p.model)) is distributed.unwrap(p.model)
        return distributed.no_sync(p.model, keeps_grads)

    def _update(self, step_loss: torch.Tensor, *, measure: bool) -> None:
        """The optimizer step through the precision strategy; the scheduler follows real updates only."""
        p = self.parts
        if self.cfg.detect_anomaly_every_step and not numerics.step_finite(
            step_loss, p.precision, p.optimizer, self._finite
        ):
            self._diverged("non-finite loss or gradient (trainer.detect_anomaly_every_step)")  # one sync per step
        try:
            with phase(OPTIMIZER):
                stepped = p.precision.step(p.optimizer, self.cfg.clip_grad_norm, measure=measure)
        except NonFiniteError as exc:  # e.g. overflow at the minimum loss scale
            self._diverged(str(exc))
        if stepped:
            p.scheduler.step()
        elif not bool(torch.isfinite(step_loss)):  # read only on overflow steps (already synced)
            self._diverged("the training loss is non-finite (loss scaling cannot fix a forward overflow)")

    def _log_train_row(self, step: int) -> None:
        """Log the training row of the window since the last one (the only place that reads device values)."""
        unit, first = self.parts.task.throughput_unit, not self.history
        row = self._telemetry.row(unit, self.state.epoch, self.elapsed_s, self.governor, first=first)
        self._log(row, step)
        if not math.isfinite(row["train/loss"]):
            self._diverged(f"the mean training loss of the steps up to {step} is non-finite")
        self._telemetry.window.reset()

    def _checkpoint_this_step(self) -> Path:
        """The checkpoint of the current step: the one already written (unless it lacks a final stop), else a new one."""
        fresh = self.watch.stop_unsaved or not str(self.last_checkpoint).endswith(f"{self.state.step:07d}")
        return self.save_checkpoint() if fresh else cast(Path, self.last_checkpoint)

    def _end(self, error: BaseException | None = None) -> None:
        end_run(self.observers, self.parts.loggers, self.state, error)  # on_run_end, then Logger.close

    # -- numerics --------------------------------------------------------------------------------

    def _diverged(self, reason: str) -> NoReturn:
        """Stop the run: crash checkpoint of the last finished step, this step re-run under hooks, nan_report.json."""
        p, checkpoint = self.parts, self.state_dict()  # a collective under FSDP: every rank builds it
        divergence.stop(
            reason, self.state, self._replay, p.model, p.task, p.precision, checkpoint, self.checkpoint_files, self._log
        )

    def evaluate(self, split: str = "val") -> dict[str, float]:
        """Evaluate on `split`, log `<split>/...`, tell the observers; returns these and what they added."""
        self.state.last_metrics = {}
        with self.watch.clock.timed("eval"):  # for trainer.max_time's estimate of a final evaluation
            metrics = self.evaluate_with(split)
            observe = getattr(self.parts.scheduler, "observe", None) if split == "val" and self.watch.judging else None
            if callable(observe):
                observe(metrics)  # a metric-driven schedule (scheduler=plateau): framework.kinds.Scheduler
            for obs in self.observers:
                obs.on_eval_end(self.state, metrics)
        if split == "val" and self.watch.judge(self.state, self.state.last_metrics):  # among the best: keep it
            self._checkpoint_this_step()
        return dict(self.state.last_metrics)

    def evaluate_with(
        self, split: str = "val", weights: Mapping[str, torch.Tensor] | None = None, *, prefix: str | None = None
    ) -> dict[str, float]:
        """Evaluate on `split` (val: and each extra set, `<name>/...`) under autocast (with `weights` swapped in), log and
        return the metrics as `<prefix or split>/...`; they join `state.last_metrics`. Callbacks: `state.evaluate`."""
        p = self.parts
        raw = evaluate_sets(
            distributed.unwrap(p.model),
            p.task,
            split,
            precision=p.precision,
            device=self.device,
            batch_size=self.cfg.eval_batch_size or self.cfg.batch_size,
            gather=distributed.gather_partials,
            shard=(distributed.rank(), distributed.world_size()),
            weights=weights,
        )
        metrics = {f"{prefix or split}/{k}": v for k, v in raw.items()}
        self.state.last_metrics.update(metrics)
        self._log(metrics, self.state.step)
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
            "watch": self.watch.state_dict(s),
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
        self.watch.load_state_dict(ckpt.get("watch") or {})
        rngs = ckpt.get("rng_ranks", [])
        set_rng_state(rngs[distributed.rank()] if len(rngs) == distributed.world_size() else ckpt["rng"])

    def save_checkpoint(self) -> Path:
        """Write an atomic checkpoint of the current step and tell the observers."""
        with self.watch.clock.timed("save"):
            state = self.state_dict()  # a collective under FSDP: every rank builds it, rank 0 writes it
            if distributed.is_main():
                self.last_checkpoint = self.checkpointer.save(self.state.step, state, self.checkpoint_files)
            else:
                self.last_checkpoint = self.checkpointer.directory / f"{PREFIX}{self.state.step:07d}"
        for obs in self.observers:
            obs.on_checkpoint(self.state, self.last_checkpoint)
        return self.last_checkpoint
