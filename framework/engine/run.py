"""Train one run: build through the one build path, record the resolved config, fit, report.

Only this module and the CLI know about run directories as a whole; `framework.engine.build` knows the build order.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.callback import Callback
from framework.engine import distributed, provenance, remote_checkpoints
from framework.engine.build import as_dictconfig, build
from framework.engine.config import TrainConfig
from framework.engine.debug_checks import after_fit, debug_observers
from framework.engine.disk import writing
from framework.engine.memory import on_batch, out_of_memory, training_fixes
from framework.engine.model_summary import record_model_summary
from framework.engine.run_lock import RunLock, check_fresh_or_resume
from framework.engine.summary import RunResult
from framework.engine.tracking import Tracking
from framework.engine.validation import validate_config

CONFIG_FILE = "config.yaml"
RESUME = "resume with trainer.resume=auto; the checkpoints already written are intact"


def save_config(cfg: DictConfig, path: Path) -> None:
    """Write the resolved config as `path`, all at once (a temporary file renamed over it): never half-written."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(f"the resolved config {path}", path.parent, undo=lambda: tmp.unlink(missing_ok=True)):
        OmegaConf.save(cfg, tmp, resolve=True)
        os.replace(tmp, path)


def train(
    config: TrainConfig | DictConfig | dict[str, Any],
    run_dir: Path | str,
    callbacks: list[Callback] | None = None,
    *,
    parent: dict[str, Any] | None = None,
) -> RunResult:
    """Build every component from `config` and train; returns metrics and where things were written.

    `callbacks` are extra Callback objects (for use from Python), after those the config names. `parent`: the past
    run this one reruns, recorded in provenance.json (framework.cli.rerun).
    """
    cfg = as_dictconfig(config)
    validate_config(cfg)  # bad values fail before the run directory is touched (build checks again, for Python use)
    run_dir = Path(run_dir)
    # one live process per run directory; under torchrun rank 0 holds the lock and checks the directory for all
    with RunLock(run_dir) if distributed.is_main() else contextlib.nullcontext() as lock:
        if lock is not None and lock.note:
            print(f"note: {lock.note}", file=sys.stderr)
        remote = None
        if lock is not None:
            check_fresh_or_resume(run_dir, cfg.trainer.resume, cfg.trainer.overwrite)
            remote = remote_checkpoints.prepare(
                cfg.trainer.checkpoint_dir, run_dir, cfg.trainer.resume, cfg.trainer.overwrite
            )  # reachable, not another run's; resume=auto on a new machine: the newest remote checkpoint fetched
        distributed.barrier()
        built = build(cfg, run_dir, mode="train", callbacks=callbacks or ())
        record = None
        if distributed.is_main():
            save_config(built.cfg, run_dir / CONFIG_FILE)
            with writing(f"the provenance record in {run_dir}", run_dir):
                record = provenance.write(run_dir, resumed=built.checkpoint is not None, parent=parent)
            model, processes = distributed.unwrap(built.model), distributed.world_size()
            record_model_summary(model, built.task, cfg.trainer.batch_size, run_dir, processes=processes)
        trainer = built.trainer()
        if remote is not None:
            remote.attach(trainer.checkpointer)  # each checkpoint uploaded in the background
        if record is not None:  # every checkpoint carries it too
            trainer.static_state["provenance"] = record
        trainer.parts.callbacks.append(
            Tracking(
                built.loggers, model=built.model, task=built.task, precision=built.precision,
                eval_samples=cfg.trainer.eval_samples, config_file=run_dir / CONFIG_FILE,
                ending=trainer.watch.summary,
            )
        )  # fmt: skip
        trainer.parts.callbacks.extend(debug_observers(built.cfg, trainer, built.device))  # debug=profile|overfit

        def step(exc: BaseException) -> str:
            return on_batch(f"in training step {trainer.state.step + 1}", exc)

        with (
            remote or contextlib.nullcontext(),  # waits for the last upload, however training ends
            writing(f"the run's files in {run_dir}", run_dir, then=RESUME),
            out_of_memory(step, built.device, training_fixes(built.cfg)),
        ):
            metrics = trainer.fit()
        after_fit(built.cfg, run_dir, trainer)  # debug=fast|overfit: the verdict, reload and predict checks
    objective = metrics.get(cfg.objective) if cfg.objective else None
    if objective is None and cfg.objective:
        warnings.warn(
            f"objective '{cfg.objective}' was not reported; metrics were: {', '.join(sorted(metrics))}", stacklevel=2
        )
    loggers = zip(cfg.logger, built.loggers, strict=False)  # by name; other ranks than 0 have no loggers
    logged = {name: where for name, logger in loggers if (where := logger.run_location())}
    ending, stopped = trainer.watch.summary(), trainer.watch.stopped
    status = stopped.status if stopped is not None and stopped.final else None  # a callback's or early stopping's
    return RunResult(metrics, objective, run_dir, trainer.last_checkpoint, trainer.history, logged, status, ending)
