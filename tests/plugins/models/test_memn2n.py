"""model=memn2n: position encoding, adjacent weight tying, padding invariance, linear start and its kind checks."""

from __future__ import annotations

import pytest
import torch

from framework.registry import MODELS, PlaitError
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


def test_kind_and_format_errors() -> None:
    with pytest.raises(PlaitError, match="question_answering"):
        MODELS.build(MODELS.config("memn2n"), spec=spec(kind="classification"))
    with pytest.raises(PlaitError, match="task.format=babi"):
        MODELS.build(MODELS.config("memn2n"), spec=spec(fmt="squad"))
