"""Results over seeds: a real seed sweep gives one group per setting with numpy's mean and sample std; seeds of
any key are left out of the grouping; groups rank by the objective in its direction; the t interval is right."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from framework.cli.compare import compare
from framework.cli.run_files import final_metrics, metric_rows
from framework.cli.sample_stats import Spread, t_975
from framework.cli.seed_groups import SAME_SETTINGS, RunValues, group_runs, rows

TINY = [
    "trainer.device=cpu",
    "trainer.max_steps=2",
    "trainer.batch_size=8",
    "trainer.eval_every_n_steps=2",
    "trainer.checkpoint_every_n_steps=0",
    "task.demo_size=200",
    "model.d_model=32",
    "logger=[jsonl]",
]


@pytest.mark.slow
def test_a_seed_sweep_gives_a_group_per_setting_with_numpys_mean_and_std(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "framework.cli", "train", "-m", *TINY, "trainer.seed=1,2,3", "optimizer.lr=1e-3,3e-3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*cmd, f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(sweep_dir / "summary_groups.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"n", "std", "mean", "ci95_low", "ci95_high"} <= set(rows[0])
    objective = [r for r in rows if r["metric"] == "val/accuracy"]
    assert sorted(r["group"] for r in objective) == ["optimizer.lr=0.001", "optimizer.lr=0.003"]
    assert [r["n"] for r in objective] == ["3", "3"] and [r["rank"] for r in objective] == ["1", "2"]
    assert float(objective[0]["mean"]) >= float(objective[1]["mean"])  # accuracy: higher ranks first
    for row in rows:
        trials = row["runs"].split()
        logged = [final_metrics(metric_rows(sweep_dir / t), "val/accuracy")[row["metric"]] for t in trials]
        if row["metric"] == "val/accuracy":  # the objective each trial reported to the sweeper, too
            assert logged == [json.loads((sweep_dir / t / "result.json").read_text())["objective"] for t in trials]
        assert float(row["mean"]) == pytest.approx(np.mean(logged), rel=1e-12, abs=1e-15)
        assert float(row["std"]) == pytest.approx(np.std(logged, ddof=1), rel=1e-9, abs=1e-15)
        assert float(row["min"]) == min(logged) and float(row["max"]) == max(logged)
    assert (sweep_dir / "summary_groups.md").read_text().startswith("| rank | group | metric | n | mean | std |")
    assert "over seeds (val/accuracy first" in done.stdout


def runs_of(*settings: str, metric: str = "val/loss", values: tuple[float, ...] = ()) -> list[RunValues]:
    """One run per whitespace-separated settings string, with `metric` set to the matching value."""
    return [RunValues(str(i), s.split(), {metric: v}) for i, (s, v) in enumerate(zip(settings, values, strict=True))]


def test_a_sweep_over_seeds_only_is_one_group_and_every_seed_key_is_left_out() -> None:
    groups = group_runs(
        runs_of("trainer.seed=1 task.seed=7", "trainer.seed=2 task.seed=8", values=(1.0, 3.0)), "val/loss"
    )
    assert [(g.label, g.runs, g.spreads["val/loss"].n) for g in groups] == [(SAME_SETTINGS, ["0", "1"], 2)]
    assert groups[0].spreads["val/loss"].mean == 2.0


def test_groups_rank_by_the_objective_in_its_direction_and_dropped_runs_are_listed_not_counted() -> None:
    settings = ("lr=1 seed=1", "lr=1 seed=2", "lr=2 seed=1", "lr=2 seed=2")
    loss = group_runs(runs_of(*settings, values=(0.5, 0.7, 0.2, 0.4)), "val/loss")
    assert [g.label for g in loss] == ["lr=2", "lr=1"]  # a loss: the lower mean first
    accuracy = group_runs(runs_of(*settings, metric="val/accuracy", values=(0.5, 0.7, 0.2, 0.4)), "val/accuracy")
    assert [g.label for g in accuracy] == ["lr=1", "lr=2"]
    runs = runs_of(*settings, values=(0.5, 0.7, 0.2, 0.4))
    runs[3].metrics = None  # failed or diverged
    lr2 = next(g for g in group_runs(runs, "val/loss") if g.label == "lr=2")
    assert lr2.runs == ["2"] and lr2.dropped == ["3"] and lr2.spreads["val/loss"].n == 1
    assert lr2.spreads["val/loss"].std is None and lr2.spreads["val/loss"].ci95 is None
    runs[2].metrics = None  # now no run of lr=2 counts: it is listed last, with n 0
    table = rows(group_runs(runs, "val/loss"))
    assert [(r["group"], r["metric"], r["n"], r["std"], r["dropped"]) for r in table] == [
        ("lr=1", "val/loss", "2", repr(float(np.std([0.5, 0.7], ddof=1))), ""),
        ("lr=2", "-", "0", "", "2 3"),
    ]


def test_the_spread_matches_numpy_and_the_t_interval_scipys() -> None:
    stats = pytest.importorskip("scipy.stats")
    values = [0.81, 0.78, 0.84, 0.80, 0.79]
    spread = Spread.of(values)
    assert spread.mean == pytest.approx(np.mean(values)) and spread.std == pytest.approx(np.std(values, ddof=1))
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert spread.ci95 == pytest.approx((low, high), abs=1e-5)
    for df in (1, 2, 5, 30, 31, 60, 1000):
        assert t_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-4)


def fake_run(run_dir: Path, seed: int, lr: float, accuracy: float) -> None:
    """A finished run as framework.engine.run leaves it, reduced to what compare reads."""
    run_dir.mkdir(parents=True)
    cfg = {"precision": {"_name_": "fp32"}, "trainer": {"seed": seed, "max_steps": 10}, "optimizer": {"lr": lr},
           "objective": "val/accuracy", "logger": {"wandb": {"group": run_dir.name}}}  # fmt: skip
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    rows = [{"step": 10, "train/loss": 1.0, "train/tokens_per_s": 100.0}, {"step": 10, "val/accuracy": accuracy}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_compare_groups_runs_that_differ_only_by_seed(tmp_path: Path) -> None:
    for i, (seed, lr, accuracy) in enumerate([(1, 0.1, 0.6), (2, 0.1, 0.8), (1, 0.2, 0.9), (2, 0.2, 0.95)]):
        fake_run(tmp_path / str(i), seed, lr, accuracy)
    result = compare([tmp_path])
    assert [(g.label, g.runs) for g in result.groups] == [
        ("optimizer.lr=0.2", ["2", "3"]),
        ("optimizer.lr=0.1", ["0", "1"]),
    ]
    assert result.groups[1].spreads["val/accuracy"].mean == pytest.approx(0.7)
    with open(tmp_path / "compare_groups.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["group"], r["n"]) for r in rows] == [("optimizer.lr=0.2", "2"), ("optimizer.lr=0.1", "2")]
    assert float(rows[1]["std"]) == pytest.approx(np.std([0.6, 0.8], ddof=1))
