"""`plait doctor`: what is installed and usable here: plugins (versions, entry points, failures, clashes,
disabled ones, plugin API) and the device (torch, CUDA, CPU, usable precisions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.hardware import PrecisionSupport

import os
import platform
from typing import Any

HELP = "installed plugins (versions, import errors, clashes, disabled) and the device with its usable precisions"
USAGE = "plait doctor"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_report() -> dict[str, Any]:
    """torch version, CUDA devices, CPU model and thread count, and precision support when known."""
    import torch

    report: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu": f"{cpu_model()} ({os.cpu_count()} logical cores, torch uses {torch.get_num_threads()} threads)",
        "precisions": None,
    }
    from framework.hardware import precision_support
    from framework.trainer import resolve_device

    report["precisions"] = precision_support(resolve_device("auto"))
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
    if device["precisions"] is None:
        lines.append("precisions: (framework.hardware.precision_support is not available in this plait)")
    else:
        lines += ["precisions:", *_precision_lines(device["precisions"])]
    print("\n".join(lines))
