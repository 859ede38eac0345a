"""TensorBoard logger: event files under the run directory; a resumed run continues them without repeated steps.

Scalars are written in double precision (TensorBoard reads back exactly what metrics.jsonl holds), samples as
Markdown text, the flattened config in the HParams dashboard with the run's objective. Point TensorBoard at a
sweep's directory to compare its trials there. On resume the event files are cut back to the checkpoint's step
(tensorboard_events), the new writer purges later steps for TensorBoard's server too (`purge_step`), and names
already written at that step are not written again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import ComponentConfig, Logger, TrainState, at_least, flat_config
from plugins.loggers.common import check_extra, import_extra, markdown_table
from plugins.loggers.tensorboard_events import cut_event_files

TEXT_SUFFIXES = (".yaml", ".yml", ".json", ".md", ".txt", ".csv")  # artifacts shown as text
MAX_TEXT_BYTES = 256 * 1024  # larger text artifacts are left out (TensorBoard is not a file store)


@dataclass
class TensorBoardLoggerConfig(ComponentConfig):
    """Options of the TensorBoard logger (`tensorboard --logdir <run or sweep directory>`)."""

    log_dir: str = "tensorboard"  # the event files' folder; a relative path is inside the run directory
    flush_secs: int = 30  # pending events reach the disk at least this often (and before every checkpoint)
    hparams: bool = True  # the flattened config in the HParams dashboard, against the run's objective

    def validate(self) -> None:
        """Range checks, run before any work (framework.engine.validation)."""
        at_least(self, 1, "flush_secs")


class TensorBoardLogger(Logger):
    """Writes scalars, sample tables, text artifacts and hyperparameters through `torch.utils.tensorboard`."""

    def __init__(self, cfg: TensorBoardLoggerConfig, run_dir: Path, config: dict[str, Any]) -> None:
        self.cfg = cfg
        self.log_dir = run_dir / cfg.log_dir
        self.config = config
        self._writer: Any = None
        self._step = 0  # the latest step written
        self._names: set[str] = set()  # names written at that step
        self._skip: tuple[int, set[str]] = (-1, set())  # on resume: names already written at the resumed step

    def on_fit_start(self, state: TrainState) -> None:
        """Open the writer; a resumed run first cuts what was written after the checkpoint's step."""
        import_extra("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        resumed = state.step > 0
        if resumed and self.log_dir.is_dir():
            cut_event_files(self.log_dir, state.step)
        self._writer = SummaryWriter(
            str(self.log_dir), purge_step=state.step + 1 if resumed else None, flush_secs=self.cfg.flush_secs
        )
        self._step = state.step
        self._names = set(self._skip[1]) if self._skip[0] == state.step else set()
        if not resumed and self.cfg.hparams:
            self._write_hparams()

    def _write_hparams(self) -> None:
        """The HParams dashboard's experiment and session records: the config, and the objective as its metric."""
        from torch.utils.tensorboard.summary import hparams

        objective = str(self.config.get("objective") or "val/loss")
        experiment, session_start, _ = hparams(flat_config(self.config), {objective: 0.0})
        for summary in (experiment, session_start):
            self._writer.file_writer.add_summary(summary)

    def _fresh(self, names: list[str], step: int) -> list[str]:
        """The names not yet written at `step` (all of them, except at a resumed step); remembers them."""
        if step != self._step:
            self._step, self._names = step, set()
        skip = self._skip[1] if step == self._skip[0] else set()
        fresh = [n for n in names if n not in skip]
        self._names.update(fresh)
        return fresh

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if self._writer is None:
            return
        for name in self._fresh(list(metrics), step):
            self._writer.add_scalar(name, float(metrics[name]), step, new_style=True, double_precision=True)

    def log_samples(self, name: str, rows: list[dict[str, str]], step: int) -> None:
        """A Markdown table in the Text dashboard."""
        if self._writer is not None and rows and self._fresh([name], step):
            self._writer.add_text(name, markdown_table(rows), step)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Text files (yaml, json, md, txt, csv) in the Text dashboard, PNG images in Images; others are skipped."""
        path, tag = Path(path), f"artifacts/{name or Path(path).name}"
        if self._writer is None:
            return
        if path.suffix in TEXT_SUFFIXES and path.stat().st_size <= MAX_TEXT_BYTES:
            self._writer.add_text(tag, "```\n" + path.read_text(encoding="utf-8") + "\n```", self._step)
        elif path.suffix == ".png":
            from matplotlib.image import imread

            self._writer.add_image(tag, imread(path)[..., :3], self._step, dataformats="HWC")

    def close(self, state: TrainState, status: str = "finished") -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def run_location(self) -> str | None:
        """The event files' folder."""
        return str(self.log_dir)

    def state_dict(self) -> dict[str, Any]:
        """Called before each checkpoint is written: flushes, so the events up to it are on disk first."""
        if self._writer is not None:
            self._writer.flush()
        return {"step": self._step, "names": sorted(self._names)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._skip = (int(state.get("step", -1)), set(state.get("names", [])))


def build_tensorboard(cfg: TensorBoardLoggerConfig, *, run_dir: Path, config: dict[str, Any]) -> TensorBoardLogger:
    """TensorBoard event files in the run directory (scalars, sample tables, HParams); pip install 'plait[tensorboard]'."""
    check_extra("tensorboard", "tensorboard")
    return TensorBoardLogger(cfg, run_dir, config)
