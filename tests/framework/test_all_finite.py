"""all_finite through torch's fused foreach kernel answers exactly as the per-tensor loop, for inf/NaN anywhere,
every floating dtype, mixed dtypes, odd shapes and the tensors the kernel does not take; it changes no value."""

from __future__ import annotations

import itertools

import pytest
import torch

from framework.engine.numerics import FiniteCheck, all_finite

BAD = [float("nan"), float("inf"), float("-inf")]
DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.float64]


def looped(tensors: list[torch.Tensor | None]) -> bool:
    """The reference: one isfinite per tensor."""
    return all(bool(torch.isfinite(t).all()) for t in tensors if t is not None)


def tensors(dtype: torch.dtype) -> list[torch.Tensor | None]:
    """A gradient-like mix: a 0-d loss, a matrix, a non-contiguous view, an empty tensor, None, a long vector, and
    two large ones (a matrix and a strided view: CPU half precision checks these by their extremes)."""
    g = torch.Generator().manual_seed(0)
    return [
        torch.tensor(2.5, dtype=dtype),
        torch.randn(7, 5, generator=g).to(dtype),
        torch.randn(6, 8, generator=g).to(dtype).t()[:, ::2],
        torch.empty(0, dtype=dtype),
        None,
        torch.randn(3000, generator=g).to(dtype),
        torch.randn(300, 300, generator=g).to(dtype),
        torch.randn(600, 300, generator=g).to(dtype)[::2, 1:],
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_tensors_pass(dtype: torch.dtype) -> None:
    ts = tensors(dtype)
    assert all_finite(ts) is True and looped(ts) is True
    assert all_finite([]) is True and all_finite([None]) is True


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", [0, 1, 2, 5, 6, 7])
@pytest.mark.parametrize("bad", BAD)
def test_one_bad_value_in_any_tensor_is_found(dtype: torch.dtype, which: int, bad: float) -> None:
    ts = tensors(dtype)
    target = ts[which]
    assert target is not None
    target[(-1,) * target.ndim].fill_(bad)  # the last element, through a view (0-d: the tensor)
    assert all_finite(ts) is False and looped(ts) is False


def test_mixed_dtypes_and_kinds_the_kernel_does_not_take() -> None:
    mixed = [t for dtype in DTYPES for t in tensors(dtype)] + [torch.arange(4), torch.ones(3, dtype=torch.complex64)]
    assert all_finite(mixed) is True
    for i, t in enumerate(mixed):
        if t is None or t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
            continue
        broken = list(mixed)
        broken[i] = t.clone().reshape(-1).index_fill(0, torch.tensor([0]), float("nan"))
        assert all_finite(broken) is False and looped(broken) is False, f"tensor {i} ({t.dtype})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_largest_finite_values_are_finite(dtype: torch.dtype) -> None:
    big = torch.full((400, 400), torch.finfo(dtype).max, dtype=dtype)
    big[::2] *= -1
    assert all_finite([big, big[:3, :3]]) is True and looped([big]) is True


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_check_changes_no_value(dtype: torch.dtype) -> None:
    values = [-0.0, 0.0, 1e-45, 3.0, float("nan"), float("inf"), torch.finfo(dtype).tiny / 4, torch.finfo(dtype).max]
    t = torch.tensor(values, dtype=dtype)
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    before = t.view(bits).clone()
    assert all_finite([t]) is False
    assert torch.equal(t.view(bits), before)


def test_random_cases_agree_with_the_loop() -> None:
    g = torch.Generator().manual_seed(1)
    for trial, dtype in itertools.product(range(20), DTYPES):
        ts: list[torch.Tensor | None] = [
            torch.randn(int(n) + 1, generator=g).to(dtype) for n in torch.randint(0, 50, (4,), generator=g)
        ]
        if trial % 2:
            t = ts[trial % 4]
            assert t is not None
            t[int(torch.randint(0, t.numel(), (1,), generator=g))] = BAD[trial % 3]
        assert all_finite(ts) is looped(ts) is (trial % 2 == 0)


@pytest.mark.parametrize(
    "kind", ["small fp32", "small bf16 with an fp32 loss", "large bf16", "with integers", "mixed dtypes"]
)
def test_one_check_reused_clears_what_a_bad_value_set(kind: str) -> None:
    """The trainer keeps one FiniteCheck: after a call that found inf/NaN, clean tensors pass again (both the
    one-call CPU path and the grouped path, with extremes and one-by-one checks beside the kernel)."""
    g = torch.Generator().manual_seed(2)
    ts: list[torch.Tensor | None] = {
        "small fp32": [torch.tensor(1.0), torch.randn(8, 4, generator=g)],
        "small bf16 with an fp32 loss": [torch.tensor(1.0), torch.randn(8, 4, generator=g).bfloat16()],
        "large bf16": [torch.tensor(1.0), torch.randn(300, 300, generator=g).bfloat16(), torch.randn(9).bfloat16()],
        "with integers": [torch.randn(5, generator=g), torch.arange(3)],
        "mixed dtypes": [t for dtype in DTYPES for t in tensors(dtype)],
    }[kind]
    check = FiniteCheck()
    for target in [t for t in ts if t is not None and t.is_floating_point() and t.numel()]:
        assert check(ts) is True
        keep = target.clone()
        for bad in BAD:
            target[(-1,) * target.ndim].fill_(bad)
            assert check(ts) is False, f"{bad} in a {tuple(target.shape)} {target.dtype} tensor"
        target.copy_(keep)
        assert check(ts) is True, "a clean call after a bad one"


def test_tensors_that_require_grad_are_checked_and_backward_still_works() -> None:
    w = torch.randn(4, requires_grad=True)
    y = w * w  # saves w for backward
    loss = y.exp().sum()  # exp saves its output
    assert FiniteCheck()([loss, w, y]) is True
    loss.backward()
    assert w.grad is not None and torch.allclose(w.grad, 2 * w.detach() * (w.detach() ** 2).exp())
    assert FiniteCheck()([(w * float("inf")).sum(), w]) is False
