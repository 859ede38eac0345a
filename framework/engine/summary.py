"""What a finished run leaves behind, and the lines it prints: its metrics, how it ended and where its files are.

`RunResult.ending` (also in the run's summary.json, written by framework.engine.tracking): where the run stopped
early and why (`stopped_early_at` or `time_limit_reached_at`, `stop_reason`, `stop_status`) and, when it judged
its evaluations, its best one (`best_metric`, `best_step`, `best_value`, `best_checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunResult:
    """What a finished run leaves behind."""

    metrics: dict[str, float]
    objective: float | None
    run_dir: Path
    checkpoint: Path | None
    history: list[dict[str, float]]
    logged: dict[str, str] = field(default_factory=dict)  # logger name -> its run_location(), where it has one
    stopped: str | None = None  # why a callback ended it before max_steps (TrainState.stop), e.g. "pruned"
    ending: dict[str, Any] = field(default_factory=dict)  # the stop and the best evaluation (framework.engine.stopping)


def print_run_summary(result: RunResult) -> None:
    """Print validation metrics, how the run ended, and the run directory, checkpoint and metrics paths."""
    from rich.console import Console

    console = Console(highlight=False)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()))
    console.print(f"[bold green]done[/] {metrics}")
    ending = result.ending
    if "stop_reason" in ending:
        console.print(f"stopped:       {ending['stop_reason']}", markup=False, soft_wrap=True)
    if "best_step" in ending:
        kept = f" ({ending['best_checkpoint']})" if "best_checkpoint" in ending else ""
        console.print(
            f"best:          {ending['best_metric']} {ending['best_value']:.4f} at step {ending['best_step']}{kept}"
        )
    console.print(f"run directory: {result.run_dir}")
    if result.checkpoint is not None:
        console.print(f"checkpoint:    {result.checkpoint}")
    metrics_file = result.run_dir / "metrics.jsonl"
    if metrics_file.exists():
        console.print(f"metrics:       {metrics_file}")
