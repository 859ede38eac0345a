"""`plait describe scheduler/<name>`: the schedule's learning rate over the configured run, as a few printed
points and, with `--plot`, a small PNG. The schedule is built from the train config composed as `plait train`
would (with the command's overrides) over a one-parameter optimizer, and stepped `trainer.max_steps` times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

POINTS = 8  # evenly spaced points printed, besides the first step, the end of warmup and of flat stretches


def compose_schedule(name: str, overrides: list[str]) -> DictConfig:
    """The train config with `scheduler=<name>` and `overrides`, checked as `plait train` checks it."""
    from framework.cli.hydra_app import check_overrides, compose_checked
    from framework.engine.config import store_schemas
    from framework.plugins import conf_dir, load_plugins

    load_plugins()
    store_schemas()
    argv, conf = [f"scheduler={name}", *overrides], conf_dir()
    check_overrides(argv, conf)
    return compose_checked(argv, conf)


def learning_rates(scheduler_cfg: Any, lr: float, max_steps: int) -> tuple[list[float], bool]:
    """The lr of optimizer steps 1..max_steps, and whether the schedule is metric-driven (it has `observe`)."""
    import torch

    from framework.kinds import SCHEDULERS

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = SCHEDULERS.build(scheduler_cfg, optimizer=optimizer, max_steps=max_steps)
    lrs = []
    for _ in range(max_steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()  # no gradient: nothing changes, but torch sees the step before the scheduler's
        scheduler.step()
    return lrs, callable(getattr(scheduler, "observe", None))


def sample_steps(lrs: list[float], warmup_steps: int) -> list[int]:
    """Step 1, the end of warmup, the ends of the first flat stretches (wsd's decay start) and POINTS evenly
    spaced steps; `lrs[n - 1]` is the lr of step n."""
    max_steps = len(lrs)
    steps = {1, warmup_steps, warmup_steps + 1} | {round(max_steps * k / POINTS) for k in range(1, POINTS + 1)}
    flat_ends = [n for n in range(2, max_steps) if lrs[n - 2] == lrs[n - 1] != lrs[n]][:2]
    steps |= {n + i for n in flat_ends for i in (0, 1)}
    return sorted(s for s in steps if 1 <= s <= max_steps)


def print_curve(name: str, cfg: DictConfig, plot: str | None) -> None:
    """Print the lr at a few steps of the run `cfg` (compose_schedule); with `plot`, also write the whole curve
    as a PNG there ('': lr_<name>.png here)."""
    lr = float(OmegaConf.select(cfg, "optimizer.lr", default=1.0))
    max_steps = int(cfg.trainer.max_steps)
    lrs, metric_driven = learning_rates(cfg.scheduler, lr, max_steps)
    warmup = int(cfg.scheduler.get("warmup_steps", 0) or 0)
    print(
        f"\nLearning rate over trainer.max_steps={max_steps} with optimizer.lr={lr:g} "
        "(set them, or scheduler.<option>, on this command line):"
    )
    if metric_driven:
        print(
            "  metric-driven: it observes each validation, so the curve below is the rate while the monitored\n"
            "  metric keeps improving (flat after warmup); a plateau lowers it, as its options above say."
        )
    print(f"  {'step':>8}  {'lr':>10}  x optimizer.lr")
    for step in sample_steps(lrs, warmup):
        print(f"  {step:>8}  {lrs[step - 1]:>10.3e}  {lrs[step - 1] / lr:.4f}")
    if plot is not None:
        path = Path(plot or f"lr_{name}.png")
        write_plot(lrs, f"scheduler={name}  (optimizer.lr={lr:g}, {max_steps} steps)", path)
        print(f"wrote {path}")


def write_plot(lrs: list[float], title: str, path: Path) -> None:
    """A small PNG of the lr against the optimizer step (matplotlib, imported only here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(lrs) + 1), lrs, linewidth=1.4)
    ax.set(title=title, xlabel="optimizer step", ylabel="learning rate", ylim=(0, None))
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
