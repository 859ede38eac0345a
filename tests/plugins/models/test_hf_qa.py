"""hf_encoder_classifier on task kind question_answering: the babi form (answer logits over `[cls] story [sep]
question [sep]`) and the squad form (BertForQuestionAnswering start/end logits aligned with the task's windows),
from scratch and from a local save_pretrained directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.plugins import load_plugins
from framework.task import QUESTION_ANSWERING, TaskSpec
from plugins.models.hf_encoder_classifier import segment_ids

load_plugins()
TINY = {"n_layers": 1, "n_heads": 2, "d_model": 16, "d_ff": 32, "dropout": 0.0}
PAD, CLS, SEP = 0, 4, 5
ANSWERS = ["garden", "kitchen", "apple,milk"]
BABI = TaskSpec(
    QUESTION_ANSWERING, vocab_size=40, pad_id=PAD, n_classes=3, max_length=12, labels=ANSWERS,
    extra={"format": "babi", "memory_size": 3, "max_sentence_length": 4, "max_question_length": 3,
           "cls_id": CLS, "sep_id": SEP},
)  # fmt: skip
SQUAD = TaskSpec(
    QUESTION_ANSWERING,
    vocab_size=40,
    pad_id=PAD,
    max_length=16,
    extra={"format": "squad", "cls_id": CLS, "sep_id": SEP},
)


def build(spec: TaskSpec, **overrides: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS.build(MODELS.config("hf_encoder_classifier", **{**TINY, **overrides}), spec=spec)


def story_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two stories of up to 3 sentences x 4 tokens (padded) and their questions."""
    story = torch.tensor([[[11, 12, 13, 0], [14, 15, 0, 0], [0, 0, 0, 0]], [[16, 17, 0, 0], [0, 0, 0, 0], [0] * 4]])
    question = torch.tensor([[20, 21, 22], [23, 24, 0]])
    return story, question


def window_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two squad windows `[cls] question [sep] context [sep]`, the second padded."""
    ids = torch.tensor([[CLS, 20, 21, SEP, 11, 12, 13, 14, SEP], [CLS, 22, SEP, 15, 16, SEP, 0, 0, 0]])
    return ids, ids != PAD


def test_segment_ids_split_a_pair_after_the_first_sep() -> None:
    ids, _ = window_batch()
    assert segment_ids(ids, SEP).tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1, 1]]
    assert segment_ids(ids, None) is None


def test_babi_form_scores_answers_over_a_bert_pair() -> None:
    model = build(BABI).eval()
    story, question = story_batch()
    assert model.hf.config.id2label == dict(enumerate(ANSWERS))  # exported configs name the answers
    with torch.no_grad():
        logits = model(story, question)
        assert logits.shape == (2, 3)
        ids = torch.tensor(
            [[CLS, 11, 12, 13, 14, 15, SEP, 20, 21, 22, SEP], [CLS, 16, 17, SEP, 23, 24, SEP, 0, 0, 0, 0]]
        )
        types = torch.tensor([[0] * 7 + [1] * 4, [0] * 4 + [1] * 7])
        direct = model.hf(input_ids=ids, attention_mask=(ids != PAD).long(), token_type_ids=types).logits
    torch.testing.assert_close(logits, direct)
    model.train()
    model(story, question).square().mean().backward()
    assert model.hf.get_input_embeddings().weight.grad[[CLS, SEP, 11, 20]].abs().sum(1).gt(0).all()


def test_squad_form_logits_align_with_the_task_windows() -> None:
    import transformers

    model = build(SQUAD).eval()
    assert isinstance(model.hf, transformers.BertForQuestionAnswering)
    ids, mask = window_batch()
    with torch.no_grad():
        start, end = model(ids, mask)
        direct = model.hf(input_ids=ids, attention_mask=mask.long(), token_type_ids=segment_ids(ids, SEP))
    assert start.shape == end.shape == ids.shape  # nothing prepended: position t scores input token t
    torch.testing.assert_close(start, direct.start_logits)
    torch.testing.assert_close(end, direct.end_logits)
    model.train()
    start, end = model(ids, mask)
    (start[mask].logsumexp(0) + end[mask].logsumexp(0)).backward()
    assert model.hf.qa_outputs.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("spec", [BABI, SQUAD], ids=["babi", "squad"])
def test_pretrained_encoder_weights_are_used(spec: TaskSpec, tmp_path: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, pad_token_id=PAD,
    )  # fmt: skip
    pretrained = BertForMaskedLM(config)  # a pretraining checkpoint: no QA or answer head at all
    pretrained.save_pretrained(tmp_path)
    model = build(spec, pretrained=str(tmp_path), d_model=64)  # sizes are ignored when loading
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"):
        loaded = model.hf.bert.get_parameter(name)
        torch.testing.assert_close(loaded, pretrained.bert.get_parameter(name))
        assert not torch.allclose(loaded, build(spec).hf.bert.get_parameter(name))
    inputs = story_batch() if spec is BABI else window_batch()
    out = model(*inputs)
    expected = (2, 3) if spec is BABI else (2, 9)
    assert (out.shape if spec is BABI else out[0].shape) == expected


def test_inputs_longer_than_the_position_table_are_named() -> None:
    model = build(SQUAD, max_length=6)
    with pytest.raises(PlaitError, match="9 tokens but its position table holds 6.*model.max_length"):
        model(*window_batch())


def test_babi_position_table_fits_the_longest_story_and_question() -> None:
    table = build(BABI).hf.config.max_position_embeddings
    assert table == 3 * 4 + 3 + 3  # memory_size x max_sentence_length + question + [cls] and two [sep]
    story = torch.randint(6, 40, (1, 3, 4))
    question = torch.randint(6, 40, (1, 3))
    assert build(BABI)(story, question).shape == (1, 3)
