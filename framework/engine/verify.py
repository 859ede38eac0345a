"""End-of-run checks for a new pipeline (`trainer.verify_reload`, `trainer.verify_predict`; `debug=fast` sets both).

- reload: the run's last checkpoint goes back through the resume path (`trainer.resume=<checkpoint>`, the same
  `build` a relaunched run uses), and one more optimizer step is taken by the live trainer and by the resumed one
  from the same random state. Equal losses and equal weights after the step mean the checkpoint holds everything
  training depends on (model, optimizer, scheduler, precision state, data position).
- predict: the run is reopened as `plait predict|translate|generate|answer` opens it (framework.engine.inference)
  and the task's inference method answers one input.

Either check that fails ends the run with a PlaitError naming what differed or failed; the run's files stay as
written (the reload check writes nothing; its extra step is not saved).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from framework.engine import distributed
from framework.engine.build import build
from framework.engine.checkpoint import set_rng_state
from framework.engine.inference import infer, load_run
from framework.engine.trainer import Trainer
from framework.errors import PlaitError
from framework.task import Answerer, Predictor, TextGenerator, Translator

TEXT = "a short sentence to check the whole pipeline ."
STORY = {"context": "Mary went to the kitchen . John moved to the garden .", "question": "Where is Mary ?"}
DECODE_TOKENS = 16  # an untrained model decodes to its length limit: a short one keeps the check quick
RTOL, ATOL = 1e-5, 1e-7  # one step from the same state and batch: equal on CPU, within rounding on CUDA


def _one_step(trainer: Trainer, rng: dict[str, Any]) -> tuple[float, dict[str, torch.Tensor]]:
    """The loss of one more step from `trainer`'s state with the random state `rng`, and the weights after it."""
    set_rng_state(rng)
    trainer.parts.model.train()
    batches = trainer.train_batches()
    try:
        loss = float(trainer.train_step(batches, measure=False))
    finally:
        batches.close()
    weights = distributed.unwrap(trainer.parts.model).state_dict()
    return loss, {k: v.detach().float().cpu() for k, v in weights.items() if v.is_floating_point()}


def verify_reload(cfg: DictConfig, run_dir: Path, trainer: Trainer) -> str:
    """Reload `trainer`'s last checkpoint through the resume path and compare one step; a line saying so."""
    if distributed.world_size() > 1:
        return "verify_reload: skipped under several processes (run it on one)"
    checkpoint = trainer.last_checkpoint
    if checkpoint is None:
        raise PlaitError("trainer.verify_reload: the run wrote no checkpoint to reload")
    started = time.perf_counter()
    again = copy.deepcopy(cfg)
    again.trainer.resume, again.trainer.overwrite = str(checkpoint), False
    again.logger, again.callback = {}, {}  # the run's loggers are closed; callbacks only watch
    threads = torch.get_num_threads()  # what the run ended with (the thread governor may have lowered it)
    resumed = build(again, run_dir, mode="train")
    torch.set_num_threads(threads)  # build applied the thread plan afresh; both steps run as the run ended
    assert resumed.state is not None
    rng = resumed.state["rng"]
    other = resumed.trainer()
    loss_a, weights_a = _one_step(trainer, rng)
    loss_b, weights_b = _one_step(other, rng)
    worst, where = 0.0, ""
    for name, value in weights_a.items():
        diff = float((value - weights_b[name]).abs().max()) if value.numel() else 0.0
        if diff > worst:
            worst, where = diff, name
    equal_loss = abs(loss_a - loss_b) <= ATOL + RTOL * abs(loss_a)
    equal_weights = all(torch.allclose(v, weights_b[k], rtol=RTOL, atol=ATOL) for k, v in weights_a.items())
    if not (equal_loss and equal_weights):
        raise PlaitError(
            f"verify_reload failed: one step after reloading {checkpoint} differs from the same step of the live "
            f"run (loss {loss_b:.8g} vs {loss_a:.8g}; largest weight difference {worst:.3g} in {where or '-'}). "
            "Something training depends on is not in the checkpoint: a component's state_dict() misses state, "
            "or the data position does not resume"
        )
    return (
        f"verify_reload: passed; step {trainer.state.step} reloaded from {checkpoint.name}, one more step gives loss "
        f"{loss_b:.6g} in both, largest weight difference {worst:.3g} ({time.perf_counter() - started:.1f} s)"
    )


def verify_predict(run_dir: Path) -> str:
    """Reopen the run as the inference commands do and call the task's inference method once; a line saying so."""
    started = time.perf_counter()
    built = load_run(run_dir, checkpoint="last")
    task: Any = built.task
    out: Any
    if isinstance(task, Predictor):
        command, out = "predict", infer(built, task.predict, [TEXT], batch_size=1)[0]
    elif isinstance(task, Translator):
        command, out = "translate", infer(built, task.translate, [TEXT], max_length=DECODE_TOKENS)[0]
    elif isinstance(task, TextGenerator):
        command, out = (
            "generate",
            infer(built, task.generate, "The", max_new_tokens=8, temperature=1.0, top_k=None, top_p=None, seed=0),
        )
    elif isinstance(task, Answerer):
        command, out = "answer", infer(built, task.answer, [dict(STORY)])[0]
    else:
        return f"verify_predict: skipped; the task ({type(task).__name__}) has no inference command"
    shown = next((out[k] for k in ("label", "answer") if k in out), out) if isinstance(out, dict) else out
    return f"verify_predict: passed; plait {command} answered {shown!r} ({time.perf_counter() - started:.1f} s)"
