"""callback=median_stop: the rule on hand-made sweep directories (its contract suite runs in test_contracts.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework import TrainState
from framework.kinds import CALLBACKS
from framework.plugins import load_plugins

load_plugins()


def make_sweep(root: Path, others: list[list[float]], objective: str = "val/loss") -> Path:
    """A sweep directory whose trials 0..n-1 logged `others[i]` at steps 2, 4, ...; returns trial n's directory."""
    (root / "multirun.yaml").write_text("{}\n")
    for i, values in enumerate(others):
        (root / str(i)).mkdir()
        rows = [json.dumps({"step": 2 * (k + 1), objective: v}) for k, v in enumerate(values)]
        (root / str(i) / "metrics.jsonl").write_text("\n".join(rows) + "\n{torn")
    (root / str(len(others))).mkdir()
    return root / str(len(others))


def stops(run_dir: Path, values: list[float], objective: str = "val/loss", **options: object) -> list[str | None]:
    """`state.stop` after each of this trial's evaluations (steps 2, 4, ...)."""
    callback = CALLBACKS.build({"_name_": "median_stop", "objective": objective, **options}, run_dir=run_dir)
    state, seen = TrainState(run_dir=run_dir), []
    for k, value in enumerate(values):
        state.step = 2 * (k + 1)
        callback.on_eval_end(state, {objective: value})
        seen.append(state.stop)
    return seen


def test_a_loss_above_the_median_after_the_warmup_stops_the_trial(tmp_path: Path) -> None:
    run_dir = make_sweep(tmp_path, [[1.0, 0.8], [1.2, 0.9], [1.1, 2.0]])
    assert stops(run_dir, [5.0, 1.0]) == [None, "pruned"]  # median at step 4: 0.9; the first eval is the warmup
    assert stops(run_dir, [5.0, 0.9]) == [None, None]  # equal to the median: not worse


def test_higher_is_better_for_accuracy_and_mode_overrides_the_name(tmp_path: Path) -> None:
    run_dir = make_sweep(tmp_path, [[0.5, 0.6], [0.5, 0.7]], objective="val/accuracy")
    assert stops(run_dir, [0.5, 0.6], objective="val/accuracy", warmup_evals=0) == [None, "pruned"]
    assert stops(run_dir, [0.5, 0.6], objective="val/accuracy", warmup_evals=0, mode="min") == [None, None]


@pytest.mark.parametrize("others", [[[1.0, 0.5]], [[1.0], [1.0]]])  # one other trial; no values at step 4
def test_too_few_other_trials_at_the_step_never_stop(tmp_path: Path, others: list[list[float]]) -> None:
    assert stops(make_sweep(tmp_path, others), [9.0, 9.0]) == [None, None]


def test_outside_a_sweep_it_does_nothing(tmp_path: Path) -> None:
    run_dir = make_sweep(tmp_path, [[1.0, 0.5], [1.0, 0.5]])
    (tmp_path / "multirun.yaml").unlink()  # e.g. outputs/<date>/: other runs there are not trials of a sweep
    assert stops(run_dir, [9.0, 9.0], warmup_evals=0) == [None, None]
