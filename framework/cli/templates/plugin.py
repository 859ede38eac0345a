"""The files of a new plugin package, as templates over {name} (import suffix), {dist}, {module}, {key}, {Class}.

Each kind has the component module and its test; the rest of the package is shared.
"""

from __future__ import annotations

from typing import TypedDict

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A Plait plugin: {kind} '{key}'."
requires-python = ">=3.10"
dependencies = ["plait"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This entry point is all it takes: installing the package makes `plait train {group}={key}` work.
[project.entry-points."plait.plugins"]
{name} = "{module}"

[tool.setuptools.packages.find]
include = ["{module}*"]

[tool.setuptools.package-data]
{module} = ["conf/*/*.yaml"]  # presets: conf/<group>/<name>.yaml become options of that group
"""

INIT = '''\
"""{dist}: a Plait plugin. Importing this module (the `plait.plugins` entry point) declares its components: each key
with its config dataclass and its factory as `module:attr` references, imported only when used, so `plait list`
imports nothing else. Keep the config in a module without torch and `plait describe` and `--help` need none either."""

from framework import {registry}

PLAIT_API = 1  # the Plait plugin API major this package targets; another major is skipped with a warning

{registry}.declare("{key}", config="{module}.{kind_module}:{Class}Config", factory="{module}.{kind_module}:build_{name}")
'''

README = """\
# {dist}

A [Plait](https://github.com/) plugin providing the {kind} `{key}`.

```bash
pip install -e .            # next to plait
plait list {group}          # shows {key}, provided by {dist}
plait describe {group}/{key}
plait train {group}={key} {example_override}
pytest tests                # the Plait contract suite for a {kind}, plus your own tests
```

Options are the fields of `{Class}Config` in `{module}/{kind_module}.py`; each field's trailing
comment is its `plait describe` text. Presets go to `{module}/conf/<group>/<name>.yaml`
(start them from the component: `defaults: [{key}]`). The author's contract for every kind:
Plait's docs/plugins.md.
"""

TEST = '''\
"""{dist}'s {kind} through Plait's contract suite: the checks every built-in {kind} passes."""

from framework.testing import {suite}


class Test{Class}({suite}):
    key = "{key}"
{test_body}
'''


class Component(TypedDict):
    """One kind's scaffold: its contract suite and test body, an example override, an optional preset, its source."""

    suite: str
    test_body: str
    example_override: str
    preset: str | None
    source: str


COMPONENTS: dict[str, Component] = {}

COMPONENTS["model"] = {
    "suite": "ModelContract",
    "test_body": '    kind = "classification"  # one test class per task kind the model supports\n',
    "example_override": "model.d_model=64",
    "preset": "# a wider {key}\ndefaults:\n  - {key}\nd_model: 128\n",
    "source": '''\
"""The {key} model: embeddings, mean over real tokens, a small MLP head (a classifier)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from framework import CLASSIFICATION, ComponentConfig, PlaitError, TaskSpec


@dataclass
class {Class}Config(ComponentConfig):
    """Options of the {key} model."""

    d_model: int = 64  # embedding width
    d_hidden: int = 64  # hidden width of the classifier head
    dropout: float = 0.1  # dropout before the head

    @classmethod
    def tiny(cls, kind: str | None) -> dict | None:
        """Tiny options for the contract tests; None for task kinds this model does not support."""
        return {{"d_model": 8, "d_hidden": 8}} if kind in (None, CLASSIFICATION) else None


class {Class}(nn.Module):
    """forward(input_ids (B, T) long, attention_mask (B, T) bool) -> logits (B, n_classes)."""

    def __init__(self, cfg: {Class}Config, spec: TaskSpec) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec.vocab_size, cfg.d_model, padding_idx=spec.pad_id)
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(cfg.d_model, cfg.d_hidden), nn.GELU(), nn.Linear(cfg.d_hidden, spec.n_classes or 2)
        )

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        weights = attention_mask.unsqueeze(-1).to(self.embed.weight.dtype)
        pooled = (self.embed(input_ids) * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return self.head(pooled)


def build_{name}(cfg: {Class}Config, *, spec: TaskSpec) -> {Class}:
    """Mean-pooled embeddings with an MLP head ({dist})."""
    if spec.kind != CLASSIFICATION:
        raise PlaitError(f"model '{key}' supports the task kind {{CLASSIFICATION}}, not '{{spec.kind}}'")
    return {Class}(cfg, spec)
''',
}

COMPONENTS["optimizer"] = {
    "suite": "OptimizerContract",
    "test_body": "",
    "example_override": "optimizer.lr=3e-3",
    "preset": "# {key} with a smaller learning rate\ndefaults:\n  - {key}\nlr: 1.0e-3\n",
    "source": '''\
"""The {key} optimizer: SGD with momentum on decay / no-decay parameter groups."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from framework import ComponentConfig, param_groups


@dataclass
class {Class}Config(ComponentConfig):
    """Options of the {key} optimizer."""

    lr: float = 0.05  # learning rate
    momentum: float = 0.9  # heavy-ball momentum
    weight_decay: float = 0.0  # L2 penalty on matrices (biases and norm scales are never decayed)


def build_{name}(cfg: {Class}Config, *, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum ({dist})."""
    return torch.optim.SGD(param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum)
''',
}

COMPONENTS["scheduler"] = {
    "suite": "SchedulerContract",
    "test_body": "",
    "example_override": "scheduler.warmup_steps=20",
    "preset": "# {key} with a longer warmup\ndefaults:\n  - {key}\nwarmup_steps: 100\n",
    "source": '''\
"""The {key} schedule: linear warmup, then linear decay to zero at max_steps (stepped once per optimizer step)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from framework import ComponentConfig


@dataclass
class {Class}Config(ComponentConfig):
    """Options of the {key} schedule."""

    warmup_steps: int = 10  # linear warmup from 0 over this many optimizer steps


def build_{name}(cfg: {Class}Config, *, optimizer: torch.optim.Optimizer, max_steps: int) -> LambdaLR:
    """Linear warmup then linear decay ({dist})."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        return max(0.0, (max_steps - step) / max(1, max_steps - cfg.warmup_steps))

    return LambdaLR(optimizer, factor)
''',
}

COMPONENTS["logger"] = {
    "suite": "LoggerContract",
    "test_body": "",
    "example_override": "'logger=[console,{key}]'",
    "preset": None,
    "source": '''\
"""The {key} logger: appends each logging step's metrics as one CSV row to <run dir>/{key}.csv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import ComponentConfig, Logger, TrainState


@dataclass
class {Class}Config(ComponentConfig):
    """Options of the {key} logger."""

    filename: str = "{key}.csv"  # file in the run directory


class {Class}(Logger):
    """One row per logging step; on resume it appends (rows after the checkpoint's step are dropped first)."""

    def __init__(self, cfg: {Class}Config, run_dir: Path) -> None:
        self.path = Path(run_dir) / cfg.filename
        self.columns: list[str] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if not self.columns:
            self.columns = ["step", *sorted(metrics)]
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({{"step": step, **metrics}})

    def state_dict(self) -> dict[str, Any]:
        return {{"columns": list(self.columns)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.columns = list(state.get("columns", []))

    def on_fit_start(self, state: TrainState) -> None:
        if state.step and self.path.exists():  # resumed: forget rows logged after the checkpoint
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= state.step]
            if not rows:
                self.path.unlink()
                return
            with self.path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


def build_{name}(cfg: {Class}Config, *, run_dir: Path, config: dict[str, Any]) -> {Class}:
    """Metrics as CSV rows ({dist})."""
    return {Class}(cfg, run_dir)
''',
}

COMPONENTS["callback"] = {
    "suite": "CallbackContract",
    "test_body": "",
    "example_override": "+callback={key}",
    "preset": None,
    "source": '''\
"""The {key} callback: remembers the best validation loss and writes it to <run dir>/{key}.txt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import Callback, ComponentConfig, TrainState


@dataclass
class {Class}Config(ComponentConfig):
    """Options of the {key} callback."""

    metric: str = "val/loss"  # the metric to watch (lower is better)


class {Class}(Callback):
    """Observes evaluations; keeps its best value in checkpoints so a resumed run continues the record."""

    def __init__(self, cfg: {Class}Config, run_dir: Path) -> None:
        self.cfg, self.run_dir, self.best = cfg, Path(run_dir), float("inf")

    def on_eval_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        self.best = min(self.best, metrics.get(self.cfg.metric, self.best))

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        (self.run_dir / "{key}.txt").write_text(f"{{self.cfg.metric}} best {{self.best}}\\n")

    def state_dict(self) -> dict[str, Any]:
        return {{"best": self.best}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])


def build_{name}(cfg: {Class}Config, *, run_dir: Path) -> {Class}:
    """Records the best value of a metric ({dist})."""
    return {Class}(cfg, run_dir)
''',
}

KINDS = tuple(COMPONENTS)
