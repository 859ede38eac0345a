"""What a finished run leaves behind, and the lines it prints: its metrics and where its files are."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MINIMISED = ("loss", "perplexity", "ppl", "error", "wer", "cer")  # objective names where lower is better


def lower_is_better(objective: str) -> bool:
    """True when the metric named `objective` improves downwards (a loss, perplexity or error rate)."""
    return any(word in objective.lower() for word in MINIMISED)


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


def print_run_summary(result: RunResult) -> None:
    """Print validation metrics and the run directory, checkpoint and metrics paths."""
    from rich.console import Console

    console = Console(highlight=False)
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(result.metrics.items()))
    console.print(f"[bold green]done[/] {metrics}")
    console.print(f"run directory: {result.run_dir}")
    if result.checkpoint is not None:
        console.print(f"checkpoint:    {result.checkpoint}")
    metrics_file = result.run_dir / "metrics.jsonl"
    if metrics_file.exists():
        console.print(f"metrics:       {metrics_file}")
