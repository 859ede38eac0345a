"""model.activation_checkpointing: the same losses and gradients as the plain model, blocks recomputed only while
training, and the Hugging Face models switched to their gradient checkpointing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_models import build, contract_batch, loss_of, run

from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ
from framework.testing import run_quick

SIX_LAYER_LM = [
    "precision=fp32", "task=language_modeling", "task.demo_size=300", "task.block_size=32", "tokenizer=char",
    "model=transformer_decoder", "model.n_layers=6", "model.d_model=32", "model.n_heads=2", "model.d_ff=64",
    "model.max_length=64", "trainer.max_steps=20", "trainer.log_every_n_steps=1", "trainer.eval_every_n_steps=10",
    "trainer.checkpoint_every_n_steps=0",
]  # fmt: skip


def losses(history: list[dict]) -> list[float]:
    return [row["train/loss"] for row in history if "train/loss" in row]


def test_six_layer_decoder_trains_to_the_same_losses_for_20_steps(tmp_path: Path) -> None:
    plain = run_quick(SIX_LAYER_LM, tmp_path / "plain")
    checkpointed = run_quick([*SIX_LAYER_LM, "model.activation_checkpointing=true"], tmp_path / "checkpointed")
    a, b = losses(plain.history), losses(checkpointed.history)
    assert len(a) == len(b) == 20
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1e-6  # dropout 0.1 on: its masks repeat
    assert plain.metrics["val/loss"] == pytest.approx(checkpointed.metrics["val/loss"], abs=1e-6)


class BlockCalls:
    """Counts the calls of transformer blocks (pre-hooks: a recomputation may stop before a block's end)."""

    def __init__(self, blocks: list[torch.nn.Module]) -> None:
        self.n = 0
        for block in blocks:
            block.register_forward_pre_hook(self.count)

    def count(self, *_: object) -> None:
        self.n += 1


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("transformer_encoder", CLASSIFICATION),
        ("transformer_decoder", LANGUAGE_MODELING),
        ("transformer_seq2seq", SEQ2SEQ),
    ],
)
def test_blocks_are_recomputed_in_backward_with_equal_gradients(key: str, kind: str) -> None:
    batch = contract_batch(kind)
    grads, calls = [], []
    for on in (False, True):
        model = build(key, kind, n_layers=3, activation_checkpointing=on).train()
        blocks = [m for m in model.modules() if type(m).__name__ == "TransformerBlock"]
        counter = BlockCalls(blocks)
        torch.manual_seed(1)
        loss_of(run(model, kind, batch), kind, batch).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        calls.append(counter.n)
        with torch.no_grad():  # evaluation never recomputes
            run(model.eval(), kind, batch)
        assert counter.n - calls[-1] == len(blocks)
    assert calls[1] == 2 * calls[0]  # every block ran again in backward
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=0, atol=1e-6)


def checkpointing(hf: torch.nn.Module) -> bool:
    """Whether a transformers model recomputes activations (the attribute's name changed in transformers 5)."""
    name = "is_activation_checkpointing" if hasattr(hf, "is_activation_checkpointing") else "is_gradient_checkpointing"
    return bool(getattr(hf, name))


@pytest.mark.parametrize("key", ["hf_causal_lm", "hf_encoder_classifier", "hf_seq2seq"])
def test_hugging_face_models_switch_on_gradient_checkpointing(key: str) -> None:
    kind = {"hf_causal_lm": LANGUAGE_MODELING, "hf_encoder_classifier": CLASSIFICATION}.get(key, SEQ2SEQ)
    assert not checkpointing(build(key, kind).hf)
    model = build(key, kind, activation_checkpointing=True).train()
    assert checkpointing(model.hf)
    batch = contract_batch(kind)
    loss_of(run(model, kind, batch), kind, batch).backward()  # trains with it on
