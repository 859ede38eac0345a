"""Each closed-form schedule against its formula, written out here independently of plugins/schedulers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from framework.kinds import SCHEDULERS
from framework.testing.components import build_component

LR, T = 0.1, 100  # optimizer.lr and max_steps of every case


def learning_rates(key: str, options: dict[str, Any], max_steps: int = T) -> list[float]:
    """lr of update s + 1 (after s scheduler steps), for s = 0 .. max_steps."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=LR)
    scheduler = build_component(SCHEDULERS, key, options, optimizer=optimizer, max_steps=max_steps)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(max_steps):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def after_warmup(w: int, rest: Callable[[int], float]) -> Callable[[int], float]:
    """(s + 1) / w for s < w, then rest(s)."""
    return lambda s: (s + 1) / w if s < w else rest(s)


def vaswani(n: int, w: int, d_model: int = 512) -> float:
    """Eq. 3 of "Attention Is All You Need": d_model^-0.5 * min(n^-0.5, n * w^-1.5), n the 1-based update."""
    return d_model**-0.5 * min(n**-0.5, n * w**-1.5)


CASES: dict[str, tuple[str, dict[str, Any], Callable[[int], float]]] = {
    "constant": ("constant", {}, lambda s: 1.0),
    "constant_warmup": ("constant", {"warmup_steps": 5}, after_warmup(5, lambda s: 1.0)),
    "linear_to_zero (HF linear)": ("linear", {"warmup_steps": 10}, after_warmup(10, lambda s: (T - s) / (T - 10))),
    "linear_floor": (
        "linear",
        {"warmup_steps": 10, "min_lr_ratio": 0.2},
        after_warmup(10, lambda s: 0.2 + 0.8 * (T - s) / (T - 10)),
    ),
    "cosine": (
        "cosine",
        {"warmup_steps": 10, "min_lr_ratio": 0.05},
        after_warmup(10, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (s - 10) / (T - 10)))),
    ),
    "cosine_no_warmup": ("cosine", {}, lambda s: 0.5 * (1 + math.cos(math.pi * s / T))),
    "warmup_cosine (defaults: 50 steps, floor 0.1)": (
        "warmup_cosine",
        {},
        after_warmup(50, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 50) / (T - 50)))),
    ),
    "polynomial_power_2": (
        "polynomial",
        {"warmup_steps": 10, "power": 2.0, "min_lr_ratio": 0.1},
        after_warmup(10, lambda s: 0.1 + 0.9 * ((T - s) / (T - 10)) ** 2),
    ),
    "inverse_sqrt (Vaswani eq. 3 / its peak)": (
        "inverse_sqrt",
        {"warmup_steps": 16},
        lambda s: vaswani(s + 1, 16) / vaswani(16, 16),
    ),
    # decay over the last 20% of 100 steps: from step 80 on
    "wsd_linear": (
        "wsd",
        {"warmup_steps": 10, "decay_fraction": 0.2, "shape": "linear"},
        after_warmup(10, lambda s: 1.0 if s < 80 else 1 - (s - 80) / 20),
    ),
    "wsd_cosine": (
        "wsd",
        {"warmup_steps": 10, "decay_fraction": 0.2, "shape": "cosine", "min_lr_ratio": 0.1},
        after_warmup(10, lambda s: 1.0 if s < 80 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 80) / 20))),
    ),
    "wsd_sqrt": (
        "wsd",
        {"warmup_steps": 10, "decay_fraction": 0.2},
        after_warmup(10, lambda s: 1.0 if s < 80 else 1 - math.sqrt((s - 80) / 20)),
    ),
}
SAMPLED = [0, 1, 4, 5, 9, 10, 11, 15, 16, 17, 30, 49, 50, 51, 79, 80, 81, 90, 99, 100]


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_matches_its_closed_form_at_sampled_steps(case: str) -> None:
    key, options, closed_form = CASES[case]
    lrs = learning_rates(key, options)
    for s in SAMPLED:
        assert lrs[s] == pytest.approx(LR * closed_form(s), rel=1e-12, abs=1e-15), (case, s)


def test_inverse_sqrt_is_fairseqs_one_update_later() -> None:
    """fairseq: lr * updates / w in warmup, then lr * sqrt(w) * updates^-0.5, from the updates done."""
    w = 16
    lrs = learning_rates("inverse_sqrt", {"warmup_steps": w})
    fairseq = [LR * (k / w if k < w else math.sqrt(w) * k**-0.5) for k in range(1, T + 2)]
    assert lrs == pytest.approx(fairseq, rel=1e-12)


def test_warmup_cosine_is_cosine_with_its_defaults_bit_for_bit() -> None:
    assert learning_rates("warmup_cosine", {}) == learning_rates("cosine", {"warmup_steps": 50, "min_lr_ratio": 0.1})


def test_the_floor_is_reached_at_max_steps_and_never_passed() -> None:
    for key in ("linear", "cosine", "polynomial", "wsd"):
        lrs = learning_rates(key, {"warmup_steps": 10, "min_lr_ratio": 0.25}, max_steps=60)
        assert lrs[60] == pytest.approx(0.25 * LR) and min(lrs[10:]) == pytest.approx(0.25 * LR), key
        assert max(lrs) == pytest.approx(LR), key


@pytest.mark.parametrize(
    ("key", "options", "message"),
    [
        ("cosine", {"min_lr_ratio": 1.5}, "min_lr_ratio=1.5 is not allowed: must be in [0, 1]"),
        ("polynomial", {"power": 0.0}, "power=0.0 is not allowed: must be > 0"),
        ("wsd", {"decay_fraction": -0.1}, "decay_fraction=-0.1 is not allowed"),
        ("inverse_sqrt", {"warmup_steps": 0}, "warmup_steps=0 is not allowed: must be >= 1"),
        ("linear", {"warmup_steps": -1}, "warmup_steps=-1 is not allowed: must be >= 0"),
        ("plateau", {"factor": 1.0}, "factor=1.0 is not allowed: must be in (0, 1)"),
        ("plateau", {"patience": -1}, "patience=-1 is not allowed: must be >= 0"),
    ],
)
def test_bad_options_fail_before_any_work(key: str, options: dict[str, Any], message: str) -> None:
    from framework.engine.validation import validate_config
    from framework.errors import ConfigValueError
    from framework.testing import compose

    with pytest.raises(ConfigValueError, match=re.escape(message)):
        validate_config(compose([f"scheduler={key}", *(f"scheduler.{k}={v}" for k, v in options.items())]))


def test_wsd_shape_is_a_closed_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.cli.hydra_app import precheck
    from framework.errors import PlaitError
    from framework.plugins import conf_dir

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # the message a user sees
    with pytest.raises(PlaitError, match="scheduler.shape.*linear.*cosine.*sqrt"):
        precheck(["scheduler=wsd", "scheduler.shape=exp"], conf_dir())
