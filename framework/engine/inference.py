"""Reopen a finished (or interrupted) run for evaluation and inference, from its directory alone.

Everything comes from the checkpoint (config, task spec, tokenizers, weights) through the one build
path; nothing is written into the run. Dotted overrides edit the saved config (`task.test_path=...`).

Which checkpoint: a checkpoint directory given as the path is opened as given. A run directory opens its best
checkpoint when it kept some (`trainer.keep_best_checkpoints`, named by `checkpoints/best.json`), else its newest;
`checkpoint=last` picks the newest, `checkpoint=best` insists on the best, `checkpoint=<dir>` names one (a path,
or a name under the run's checkpoints/). The choice is said in one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from omegaconf import DictConfig, OmegaConf
from torch import nn

from framework.engine.best import read_pointer
from framework.engine.build import Built, build
from framework.engine.checkpoint import Loaded, is_complete, load_latest
from framework.engine.config import TrainConfig
from framework.engine.evaluation import evaluate, run_inference
from framework.engine.remote_checkpoints import local_run
from framework.engine.weights import TRAINED, use_weights
from framework.errors import PlaitError

P = ParamSpec("P")
R = TypeVar("R")


def _newest(path: Path | str) -> Loaded:
    """The newest checkpoint under `path` that loads (damaged newer ones are skipped, each named once)."""
    loaded = load_latest(path)
    if loaded is None:
        raise PlaitError(f"no complete checkpoint under {path} (expected checkpoints/step_*/COMPLETE)")
    loaded.note_skipped()
    return loaded


def _opened(loaded: Loaded, why: str) -> Loaded:
    """Say on stderr, in one line, which checkpoint a command opened and why."""
    print(f"checkpoint: {loaded.path} ({why})", file=sys.stderr)
    return loaded


def open_checkpoint(path: Path | str, choice: str | None = None) -> Loaded:
    """The checkpoint a command opens (see the module's doc), said on stderr; `choice`: best | last | <dir> | None.
    A URL, or a run whose checkpoints are kept remotely only, opens the newest remote one (downloaded to the cache)."""
    run = Path(local_run(path)).expanduser()
    if choice not in (None, "best", "last"):
        return _opened(_newest(checkpoint_path(run, str(choice))), "as given")
    if is_complete(run):
        return _opened(_newest(run), "as given")
    if choice != "last":
        pointer = read_pointer(run)
        if pointer is None and choice == "best":
            raise PlaitError(
                f"{run} has no best checkpoint (trained without trainer.keep_best_checkpoints); use checkpoint=last"
            )
        if pointer is not None:
            try:
                best = _newest(pointer["path"])
            except PlaitError as exc:
                if choice == "best":
                    raise
                print(f"note: the best checkpoint cannot be used ({exc}); opening the newest", file=sys.stderr)
            else:
                return _opened(
                    best, f"the best by {pointer['metric']}: {pointer['value']:.6g} at step {pointer['step']}"
                )
    return _opened(_newest(run), "the newest")


def saved_config(state: dict[str, Any], overrides: list[str] | None = None) -> DictConfig:
    """A run's resolved config as saved in a checkpoint's `state`, with dotlist `overrides` applied."""
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(state["config"]))
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    assert isinstance(cfg, DictConfig)
    return cfg


def checkpoint_path(run: Path | str, checkpoint: str | None) -> Path:
    """Where to look for the checkpoint: `run` itself, or the `checkpoint` option (a path, or a name under
    `<run>/checkpoints`, such as the `averaged_last3` that `plait average` writes)."""
    if checkpoint is None:
        return Path(run)
    for candidate in (Path(checkpoint).expanduser(), Path(run) / "checkpoints" / checkpoint, Path(run) / checkpoint):
        if is_complete(candidate):
            return candidate
    directory = Path(run) / "checkpoints"
    names = sorted(p.name for p in directory.iterdir() if is_complete(p)) if directory.is_dir() else []
    raise PlaitError(
        f"checkpoint={checkpoint}: no complete checkpoint there; {directory} has {', '.join(names) or 'none'}"
    )


def load_run(
    path: Path | str,
    device: str | None = None,
    overrides: list[str] | None = None,
    *,
    checkpoint: str | None = None,
    weights: str = TRAINED,
) -> Built:
    """Task, tokenizers, model with its trained weights (or the named `weights` set a callback kept, e.g. `ema`),
    and precision of a run, ready for inference. `checkpoint`: best | last | <dir or name>; None: the run's best
    when it kept one, else its newest."""
    loaded = open_checkpoint(path, checkpoint)
    cfg = saved_config(loaded.state, overrides)
    if device is not None:
        cfg.trainer.device = device
    built = build(cfg, loaded.path.parent.parent, mode="infer", checkpoint=loaded)
    use_weights(built.model, loaded.state, weights)
    if weights != TRAINED:
        print(f"weights: {weights} (kept in {loaded.path})", file=sys.stderr)
    return built


def evaluate_split(built: Built, split: str, batch_size: int | None = None) -> dict[str, float]:
    """Metrics of a reopened run on `split`, keyed `<split>/<name>`."""
    tcfg = built.cfg.trainer
    raw = evaluate(
        built.model,
        built.task,
        split,
        precision=built.precision,
        device=built.device,
        batch_size=batch_size or tcfg.eval_batch_size or tcfg.batch_size,
        batch_key="batch_size",  # the option of plait eval
    )
    return {f"{split}/{k}": v for k, v in raw.items()}


def task_as(built: Built, interface: type[Any], command: str, kind: str) -> Any:
    """The run's task, checked to implement the inference `interface` (framework.task's runtime-checkable
    Predictor, Translator, TextGenerator, Answerer) that `plait <command>` calls; else an error naming the fit.

    Annotate the result with the interface (`task: Predictor = task_as(...)`): mypy cannot pass a Protocol
    class as `type[T]`, so the return type is the caller's to state.
    """
    task = built.task
    if not isinstance(task, interface):
        raise PlaitError(
            f"plait {command} works with {kind} tasks; this run's task ({type(task).__name__}) does not implement "
            f"framework.{interface.__name__}. See `plait --help` for the command that fits it"
        )
    return task


def infer(built: Built, method: Callable[Concatenate[nn.Module, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call a task's inference `method` (from `task_as`) on the run's model, under no_grad and autocast."""
    result: R = run_inference(built.precision, method, built.model, *args, **kwargs)
    return result
