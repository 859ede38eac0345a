"""What `plait tune` shows and writes: the curve or the probes as a printed table, a CSV and a PNG in the output
directory (never a run directory). matplotlib is imported only here, and only for the PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from framework.cli.run_provenance import is_run
from framework.engine.batch_finder import BatchSearch, Probe
from framework.engine.lr_finder import LRCurve
from framework.engine.memory import size_text
from framework.errors import PlaitError
from framework.files import atomic_write

PRINTED_POINTS = 12  # rows of the printed lr curve, besides the suggestion and the last step


def output_dir(out: str) -> Path:
    """The directory to write into, created; refused when it is (or is inside) a run directory."""
    path = Path(out).expanduser().resolve()
    for candidate in (path, *path.parents):
        if is_run(candidate):
            raise PlaitError(
                f"out={out} is inside the run directory {candidate}; `plait tune` never writes into a run. "
                "Name another directory, e.g. out=tune/"
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as CSV (header from the first row), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["step"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue())


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg back end, or None (and a note) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed, so no PNG was written (pip install matplotlib); the CSV has it all")
        return None
    return plt


def lr_table(curve: LRCurve) -> str:
    """A dozen evenly spaced steps of the curve, the suggestion's step marked, and the last step."""
    n = len(curve.lrs)
    picked = {round(k * (n - 1) / (PRINTED_POINTS - 1)) for k in range(PRINTED_POINTS)} if n else set()
    if curve.suggestion_index is not None:
        picked.add(curve.suggestion_index)
    lines = [f"{'step':>5}  {'lr':>10}  {'loss':>10}  {'smoothed':>10}"]
    for i in sorted(picked):
        mark = "  <- suggested" if i == curve.suggestion_index else ""
        lines.append(f"{i + 1:>5}  {curve.lrs[i]:>10.3e}  {curve.losses[i]:>10.4f}  {curve.smoothed[i]:>10.4f}{mark}")
    return "\n".join(lines)


def lr_plot(curve: LRCurve, path: Path) -> bool:
    """The loss and the smoothed loss against the rate (log axis), the suggestion marked; False without matplotlib."""
    plt = pyplot()
    if plt is None or not curve.lrs:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(curve.lrs, curve.losses, color="0.7", linewidth=1, label="loss")
    ax.plot(curve.lrs, curve.smoothed, color="C0", linewidth=2, label=f"smoothed ({curve.settings.window} steps)")
    if curve.suggestion is not None:
        ax.axvline(curve.suggestion, color="C3", linestyle="--", label=f"suggested {curve.suggestion:.2e}")
    top = max(curve.smoothed[: max(1, len(curve.smoothed) // 10)])  # the start of the curve, not its blow-up
    ax.set_ylim(min(curve.smoothed) - 0.05 * abs(top), top + 0.25 * abs(top))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def batch_rows(search: BatchSearch) -> list[dict[str, Any]]:
    """One row per probe, in the order taken (for CSV)."""
    return [
        {
            "batch": p.batch,
            "fits": p.fits,
            "peak_bytes": p.peak_bytes if p.peak_bytes is not None else "",
            f"{search.unit}_per_s": round(p.per_s, 1) if p.per_s is not None else "",
            "note": p.note,
        }
        for p in search.probes
    ]


def batch_header(unit: str) -> str:
    """The header of the probe table."""
    return f"{'batch':>6}  {'fits':>4}  {'peak memory':>12}  {unit + '/s':>12}  note"


def batch_line(p: Probe) -> str:
    """One probe: batch, fits, peak memory, throughput, why not."""
    peak = size_text(p.peak_bytes) if p.peak_bytes is not None else "-"
    speed = f"{p.per_s:,.0f}" if p.per_s is not None else "-"
    return f"{p.batch:>6}  {'yes' if p.fits else 'no':>4}  {peak:>12}  {speed:>12}  {p.note}".rstrip()


def batch_table(search: BatchSearch) -> str:
    """The probes sorted by batch."""
    return "\n".join(
        [batch_header(search.unit), *(batch_line(p) for p in sorted(search.probes, key=lambda p: p.batch))]
    )


def batch_plot(search: BatchSearch, path: Path) -> bool:
    """Throughput and peak memory against the batch (log 2 axis), the budget drawn; False without matplotlib."""
    plt = pyplot()
    measured = sorted((p for p in search.probes if p.peak_bytes is not None), key=lambda p: p.batch)
    if plt is None or not measured:
        return False
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=120)
    batches = [p.batch for p in measured]
    speed.plot(batches, [p.per_s or 0 for p in measured], marker="o")
    speed.set_ylabel(f"{search.unit}/s")
    memory.plot(batches, [(p.peak_bytes or 0) / 2**20 for p in measured], marker="o", color="C1")
    if search.budget is not None:
        memory.axhline(search.budget / 2**20, color="C3", linestyle="--", label=f"budget {size_text(search.budget)}")
        memory.legend(fontsize=8)
    memory.set_ylabel("peak memory (MiB)")
    for ax in (speed, memory):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        if search.largest:
            ax.axvline(search.largest, color="0.6", linestyle=":")
    fig.suptitle("batch-size search")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
