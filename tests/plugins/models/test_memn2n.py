"""model=memn2n: position encoding, adjacent weight tying, padding invariance, linear start, random noise and its
kind checks."""

from __future__ import annotations

import pytest
import torch

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.task import TaskSpec
from plugins.models.memn2n import MemN2N, position_weights

QA = "question_answering"


def spec(fmt: str = "babi", kind: str = QA) -> TaskSpec:
    return TaskSpec(kind=kind, vocab_size=20, pad_id=0, n_classes=5, extra={"format": fmt, "memory_size": 4})


def build(**options: object) -> MemN2N:
    torch.manual_seed(0)
    return MODELS.build(MODELS.config("memn2n", d_model=8, **options), spec=spec())


def test_position_weights_match_the_paper_formula() -> None:
    mask = torch.tensor([[True, True, False]])  # J = 2 real words, d = 2
    w = position_weights(mask, 2)
    for j in (1, 2):
        for k in (1, 2):
            expected = (1 - j / 2) - (k / 2) * (1 - 2 * j / 2)
            assert w[0, j - 1, k - 1].item() == pytest.approx(expected)
    assert w[0, 2].abs().sum() == 0  # padding gets no weight


def test_adjacent_tying_uses_hops_plus_one_tables() -> None:
    model = build(hops=3)
    assert len(model.embed) == 4 and model.temporal.shape == (4, 4, 8)
    story = torch.randint(1, 20, (2, 3, 5))
    logits = model(story, torch.randint(1, 20, (2, 4)))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(e.weight.grad is not None and e.weight.grad.abs().sum() > 0 for e in model.embed)
    assert model.embed[0].weight.grad[0].abs().sum() == 0  # the pad row stays zero


def reference_logits(model: MemN2N, story: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
    """The paper's forward in evaluation, hop by hop: each hop embeds the story with its own two tables (A^k, C^k),
    PE and TE on, softmax attention (no linear start, no noise)."""

    def encode(table: int, ids: torch.Tensor) -> torch.Tensor:
        return (model.embed[table](ids) * position_weights(ids != 0, model.cfg.d_model)).sum(-2)

    real = (story != 0).any(-1)
    recency = (real.sum(1, keepdim=True) - 1 - torch.arange(story.shape[1])).clamp(0, model.memory_size - 1)
    u = encode(0, question)
    for hop in range(model.cfg.hops):
        memory = encode(hop, story) + model.temporal[hop][recency]
        output = encode(hop + 1, story) + model.temporal[hop + 1][recency]
        attention = (memory @ u.unsqueeze(-1)).squeeze(-1).masked_fill(~real, float("-inf")).softmax(-1)
        u = u + (attention.unsqueeze(-1) * output).sum(1)
    return model.out(u)


def test_forward_and_gradients_match_the_per_hop_reference() -> None:
    """Each table encodes the story once per forward (shared by adjacent hops): same logits and gradients as
    embedding per hop."""
    model = build(hops=3, position_encoding=True, temporal_encoding=True).eval()
    story = torch.randint(1, 20, (3, 4, 6))
    story[0, 2:] = 0  # a shorter story
    story[:, :, 4:] = 0  # padded words
    question = torch.randint(1, 20, (3, 5))
    logits = model(story, question)
    expected = reference_logits(model, story, question)
    assert torch.allclose(logits, expected, atol=1e-6)
    grads = torch.autograd.grad(logits.square().sum(), list(model.parameters()), allow_unused=True)
    ref = torch.autograd.grad(expected.square().sum(), list(model.parameters()), allow_unused=True)
    for g, r in zip(grads, ref, strict=True):
        assert (g is None) == (r is None) and (g is None or torch.allclose(g, r, atol=1e-6))


def test_padding_sentences_and_older_history_beyond_memory_do_not_matter() -> None:
    model = build().eval()
    story = torch.randint(1, 20, (2, 3, 5))
    question = torch.randint(1, 20, (2, 4))
    base = model(story, question)
    padded = torch.cat([story, torch.zeros(2, 2, 5, dtype=torch.long)], dim=1)  # empty sentences at the end
    assert torch.allclose(model(padded, question), base, atol=1e-6)
    older = torch.cat([torch.randint(1, 20, (2, 2, 5)), story], dim=1)  # 5 sentences; memory_size is 4
    clipped = model(older, question)
    assert torch.allclose(clipped, model(older[:, -4:], question), atol=1e-6)
    wider = torch.cat([story, torch.zeros(2, 3, 2, dtype=torch.long)], dim=2)  # longer padded sentences
    assert torch.allclose(model(wider, question), base, atol=1e-6)


def test_temporal_encoding_makes_order_matter() -> None:
    story = torch.randint(1, 20, (1, 3, 5))
    question = torch.randint(1, 20, (1, 4))
    flipped = story.flip(1)
    with_te, without = build().eval(), build(temporal_encoding=False).eval()
    assert not torch.allclose(with_te(story, question), with_te(flipped, question))
    assert torch.allclose(without(story, question), without(flipped, question), atol=1e-6)


def test_linear_start_counts_training_passes_only() -> None:
    model = build(linear_start_steps=2)
    story, question = torch.randint(1, 20, (2, 3, 5)), torch.randint(1, 20, (2, 4))
    model.train()
    linear = model(story, question)  # pass 1: no softmax
    model(story, question)
    softmax = model(story, question)  # pass 3: softmax
    assert int(model.trained_steps) == 3 and not torch.allclose(linear, softmax)
    model.eval()
    assert torch.allclose(model(story, question), softmax.detach())  # past the linear phase: softmax in eval too
    assert int(model.trained_steps) == 3
    early = build(linear_start_steps=2).eval()
    early.load_state_dict({**model.state_dict(), "trained_steps": torch.tensor(1)})
    assert not torch.allclose(early(story, question), softmax.detach())  # in the linear phase eval is linear
    assert "trained_steps" in model.state_dict()  # resumes with the checkpoint


def one_hop_by_hand(model: MemN2N, story: torch.Tensor, question: torch.Tensor, softmax: float) -> torch.Tensor:
    """The paper's one-hop formulas, written out without PE (bag of words) for an unpadded story; the attention is
    `softmax` parts softmax(u.m) and the rest u.m (linear start)."""
    n = story.shape[1]
    recency = torch.arange(n - 1, -1, -1)
    u = model.embed[0](question).sum(-2)
    m = model.embed[0](story).sum(-2) + model.temporal[0][recency]
    c = model.embed[1](story).sum(-2) + model.temporal[1][recency]
    p = torch.einsum("bnd,bd->bn", m, u)
    p = softmax * p.softmax(-1) + (1 - softmax) * p
    return model.out(u + torch.einsum("bn,bnd->bd", p, c))


def test_linear_start_is_linear_attention_then_softmax_and_resumes() -> None:
    model = build(hops=1, position_encoding=False, linear_start_steps=1).train()
    story, question = torch.randint(1, 20, (2, 3, 5)), torch.randint(1, 20, (2, 4))
    with torch.no_grad():
        assert torch.allclose(model(story, question), one_hop_by_hand(model, story, question, 0.0), atol=1e-5)
        assert torch.allclose(model(story, question), one_hop_by_hand(model, story, question, 1.0), atol=1e-5)
        resumed = build(hops=1, position_encoding=False, linear_start_steps=1)
        resumed.load_state_dict(model.state_dict())  # the count travels with the checkpoint: softmax from here on
        assert int(resumed.trained_steps) == 2
        assert torch.allclose(resumed.eval()(story, question), one_hop_by_hand(model, story, question, 1.0), atol=1e-5)


def test_linear_start_taylor_form_is_the_softmax_to_first_order() -> None:
    story, question = torch.randint(1, 20, (2, 3, 5)), torch.randint(1, 20, (2, 4))
    gaps = {}
    for form in ("plain", "taylor"):
        model = build(hops=1, position_encoding=False, linear_start_steps=1, linear_start_form=form).train()
        with torch.no_grad():
            for table in model.embed:
                table.weight.mul_(0.3)  # small scores, where softmax(s) ~ (1 + s - mean s) / n
            model.temporal.mul_(0.3)
            s = torch.einsum(
                "bnd,bd->bn",
                model.embed[0](story).sum(-2) + model.temporal[0][[2, 1, 0]],
                model.embed[0](question).sum(-2),
            )
            linear, softmax = model(story, question), model(story, question)  # passes 1 (linear) and 2 (softmax)
        gaps[form] = (linear - softmax).abs().max().item()
        if form == "taylor":
            p = (1 + s - s.mean(-1, keepdim=True)) / 3
            c = model.embed[1](story).sum(-2) + model.temporal[1][[2, 1, 0]]
            by_hand = model.out(model.embed[0](question).sum(-2) + torch.einsum("bn,bnd->bd", p, c))
            assert torch.allclose(linear, by_hand, atol=1e-5)
    assert gaps["taylor"] < 0.05 * gaps["plain"]  # the switch barely moves the taylor form's output
    with pytest.raises(PlaitError, match="linear_start_form"):
        build(linear_start_form="cubic")


def test_random_noise_shifts_training_recency_only() -> None:
    model = build(random_noise=1.0)  # an empty memory after every sentence: recency r becomes 2r + 1
    story = torch.cat([torch.randint(1, 20, (2, 2, 5)), torch.zeros(2, 1, 5, dtype=torch.long)], dim=1)
    question = torch.randint(1, 20, (2, 4))
    shifted = build()
    with torch.no_grad():
        shifted.temporal[:, :2] = model.temporal[:, [1, 3]]
    assert torch.allclose(model.train()(story, question), shifted.eval()(story, question), atol=1e-6)
    plain = build()  # same weights (same seed), no noise: evaluation is unchanged
    assert torch.allclose(model.eval()(story, question), plain.eval()(story, question), atol=1e-6)
    assert not torch.allclose(model.eval()(story, question), shifted.eval()(story, question))


def test_random_noise_inserts_about_its_share_of_empty_memories() -> None:
    model = build(random_noise=0.1)
    real = torch.ones(4000, 6, dtype=torch.bool)
    real[:, 4:] = False  # two padding sentences at the end of every story
    torch.manual_seed(1)
    shift = model._empty_memories_after(real)
    assert (shift[:, 4:] == 0).all()  # padding gets no empty memories
    assert (shift[:, :-1] >= shift[:, 1:]).all()  # older sentences move back at least as far as newer ones
    assert shift[:, 0].float().mean().item() == pytest.approx(0.4, abs=0.03)  # 4 sentences x 10%
    assert not (shift == 0).all() and not (shift > 0).all()


def test_kind_and_format_errors() -> None:
    with pytest.raises(PlaitError, match="question_answering"):
        MODELS.build(MODELS.config("memn2n"), spec=spec(kind="classification"))
    with pytest.raises(PlaitError, match="task.format=babi"):
        MODELS.build(MODELS.config("memn2n"), spec=spec(fmt="squad"))
