"""`plait doctor`: what is installed and usable here: plugins (versions, entry points, failures, clashes,
disabled ones, plugin API) and the device (torch, CUDA, CPU, usable precisions)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

HELP = "installed plugins (versions, import errors, clashes, disabled) and the device with its usable precisions"
USAGE = "plait doctor"


@dataclass(frozen=True)
class PrecisionSupport:
    """One registered precision on one device: can it run, and does its compute dtype run in hardware."""

    name: str
    usable: bool
    native: bool
    detail: str

    @property
    def mode(self) -> str:
        """native | emulated | unusable."""
        return "unusable" if not self.usable else ("native" if self.native else "emulated")


def precision_support(device: torch.device) -> list[PrecisionSupport]:
    """Every registered precision: set it up on a tiny model on `device` and classify it (for `plait doctor`)."""
    from torch import nn

    from framework.errors import PlaitError
    from framework.hardware import dtype_native
    from framework.kinds import PRECISIONS
    from framework.plugins import load_plugins

    load_plugins()
    rows = []
    for name in PRECISIONS.names():
        strategy = PRECISIONS.build(PRECISIONS.config(name))
        resolve = getattr(strategy, "resolve", None)
        if callable(resolve):
            node, reason = resolve(device)
            rows.append(PrecisionSupport(name, True, True, f"picks {node['_name_']}: {reason}"))
            continue
        try:
            with warnings.catch_warnings():  # the emulated-bf16 warning: this table says it already
                warnings.simplefilter("ignore")
                strategy.setup(nn.Linear(4, 4), device)
        except (PlaitError, ImportError) as exc:
            rows.append(PrecisionSupport(name, False, False, str(exc).splitlines()[0]))
            continue
        dtype = getattr(strategy, "compute_dtype", None)
        if dtype is None:
            rows.append(PrecisionSupport(name, True, False, "declares no compute_dtype: native or not is unknown"))
            continue
        native, reason = dtype_native(dtype, device)
        rows.append(PrecisionSupport(name, True, native, reason))
    return rows


def device_report() -> dict[str, Any]:
    """torch version, CUDA devices, CPU model and thread count, and precision support when known."""
    import torch

    from framework.engine.device import resolve_device
    from framework.hardware import cpu_name

    report: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu": f"{cpu_name()} ({os.cpu_count()} logical cores, torch uses {torch.get_num_threads()} threads)",
        "precisions": precision_support(resolve_device("auto")),
    }
    return report


def _precision_lines(support: list[PrecisionSupport]) -> list[str]:
    """One line per registered precision: native, emulated or unusable here, and why."""
    return [f"  {p.name:<16} {p.mode:<9} {p.detail}" for p in support]


def main(argv: list[str]) -> None:
    """Print the plugin and device report."""
    from framework.plugins import plugin_report

    plugins = plugin_report()
    lines = [f"plait plugin API {plugins['api']}", "", "plugins (entry point = module  [distribution version]):"]
    for ep in plugins["entry_points"]:
        lines.append(f"  {ep['entry_point']} = {ep['module']}  [{ep['distribution']} {ep['version']}]")
    lines.append("")
    lines.append("failed to load:" if plugins["broken"] else "failed to load: none")
    lines += [f"  {b.entry_point} ({b.distribution}): {b.error}" for b in plugins["broken"]]
    lines.append("disabled (PLAIT_DISABLE_PLUGINS):" if plugins["disabled"] else "disabled: none")
    lines += [f"  {d.entry_point} ({d.distribution})" for d in plugins["disabled"]]
    lines.append("clashes:" if plugins["clashes"] else "clashes: none")
    lines += [
        f"  {c.kind}={c.key}: {c.winner} keeps it; {c.loser}'s is {c.kind}={c.qualified}" for c in plugins["clashes"]
    ]
    device = device_report()
    lines += ["", f"torch {device['torch']}", f"cpu: {device['cpu']}"]
    lines.append(f"cuda {device['cuda']}: {', '.join(device['gpus'])}" if device["gpus"] else "cuda: not available")
    lines += ["precisions:", *_precision_lines(device["precisions"])]
    print("\n".join(lines))
