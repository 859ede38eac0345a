"""`model.dropout_kernel`: the CPU dropout whose mask comes from 16 random bits per value drops each value with
probability p (within 2^-17), independently of its position, keeps the expectation, follows torch's seed, and
trains the transformer models as torch's dropout does."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from plugins.models.configs import DropoutKernel
from plugins.models.dropout import LEVELS, Dropout, dropout, fast_dropout_ok, keep_noise


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_each_value_drops_with_probability_p_wherever_it_sits(p: float) -> None:
    torch.manual_seed(0)
    n = 1 << 20
    noise = keep_noise(torch.ones(n), p)
    dropped = noise == 0
    p_exact = round(p * LEVELS) / LEVELS
    assert sorted(noise.unique().tolist()) == [0.0, pytest.approx(1 / (1 - p_exact))]
    sigma = (p * (1 - p) / (n / 4)) ** 0.5
    for lane in range(4):  # the four 16-bit slices of each 64-bit draw, each alone
        assert abs(dropped[lane::4].float().mean().item() - p) < 5 * sigma, f"slice {lane}"
    neighbours = (dropped[:-1] & dropped[1:]).float().mean().item()  # independent: P(both) = p^2
    assert abs(neighbours - p * p) < 5 * (p * p / n) ** 0.5 + 1e-3
    assert abs(noise.mean().item() - 1) < 5 * sigma / (1 - p)  # inverted dropout keeps the expectation


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 11), (1,), (0, 4)])
def test_output_is_the_input_times_a_mask_in_its_dtype_and_shape(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape).to(dtype) + 3  # no zeros of its own
    y = dropout(x, 0.3, training=True)
    assert y.shape == x.shape and y.dtype == dtype
    kept = y != 0
    scale = torch.tensor(LEVELS / (LEVELS - round(0.3 * LEVELS)), dtype=dtype)
    assert torch.equal(y[kept], x[kept] * scale)


def test_a_non_contiguous_input_and_the_gradient() -> None:
    x = torch.randn(6, 8, dtype=torch.float32).t().requires_grad_()  # a transposed view
    y = dropout(x, 0.25, training=True)
    y.backward(torch.ones_like(y))
    assert x.grad is not None
    scale = LEVELS / (LEVELS - round(0.25 * LEVELS))
    assert torch.equal(x.grad, (y.detach() != 0) * torch.tensor(scale))  # d(x * noise)/dx = noise


def test_same_seed_same_mask_and_torch_kernel_is_torch_dropout() -> None:
    x = torch.randn(1000)
    torch.manual_seed(3)
    a = dropout(x, 0.1, training=True)
    torch.manual_seed(3)
    b = dropout(x, 0.1, training=True)
    c = dropout(x, 0.1, training=True)  # the generator moved on
    assert torch.equal(a, b) and not torch.equal(b, c)
    torch.manual_seed(3)
    ours = dropout(x, 0.1, training=True, kernel=DropoutKernel.torch)
    torch.manual_seed(3)
    assert torch.equal(ours, F.dropout(x, 0.1, training=True))


def test_identity_outside_training_and_at_p_zero_and_torch_for_extreme_p() -> None:
    x = torch.randn(100)
    module = Dropout(0.5).eval()
    assert module(x) is x and dropout(x, 0.0, training=True) is x
    assert not fast_dropout_ok(x, 1e-6, DropoutKernel.auto)  # rounds to 0 of 65536 levels: torch's dropout
    assert not fast_dropout_ok(x, 1 - 1e-6, DropoutKernel.auto)
    assert not fast_dropout_ok(x, 0.1, DropoutKernel.torch) and fast_dropout_ok(x, 0.1, DropoutKernel.auto)
    assert not fast_dropout_ok(torch.randn(2, device="meta"), 0.1, DropoutKernel.auto)  # not the CPU
    compiled = torch.compile(lambda t: fast_dropout_ok(t, 0.1, DropoutKernel.auto), backend="eager")
    assert compiled(x) is False  # inductor fuses torch's own dropout
    torch.manual_seed(0)
    assert (dropout(x, 1e-6, training=True) == 0).sum() <= 1  # torch's, at that p


def test_the_transformer_uses_the_choice_and_trains_the_same_way() -> None:
    """A tiny GPT with each kernel: the modules carry the choice, and 60 steps on the same batches reach losses
    within the noise of the masks (both far below the start)."""
    from framework import LANGUAGE_MODELING, TaskSpec
    from framework.kinds import MODELS
    from framework.plugins import load_plugins

    load_plugins()
    spec = TaskSpec(kind=LANGUAGE_MODELING, vocab_size=32, pad_id=0, max_length=16)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(1, 32, (8, 16), generator=g).repeat(4, 1)  # a memorisable corpus
    losses = {}
    for kernel in ("auto", "torch"):
        torch.manual_seed(0)
        cfg = MODELS.config("transformer_decoder", d_model=32, n_layers=2, n_heads=2, d_ff=64, max_length=16,
                            dropout=0.2, dropout_kernel=kernel)  # fmt: skip
        model = MODELS.build(cfg, spec=spec).train()
        kinds = {m.kernel for m in model.modules() if isinstance(m, Dropout)}
        assert kinds == {DropoutKernel(kernel)} and not any(type(m) is torch.nn.Dropout for m in model.modules())
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        for _ in range(60):
            logits = model(data[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, 32), data[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses[kernel] = loss.item()
    assert losses["auto"] < 2.0 and losses["torch"] < 2.0  # from ln(32) = 3.47
    assert abs(losses["auto"] - losses["torch"]) < 0.35
