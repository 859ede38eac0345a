"""Models: driving one through its task kind's call convention (framework/task.py), and ModelContract, the
checks every model passes for each task kind it supports."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ
from framework.testing.components import build_component, check_documented, tiny_config
from framework.testing.model_data import N_CLASSES, TARGET_VOCAB, VOCAB, contract_batch, spec_for


class _Seq2SeqParts(Protocol):
    """The encode/decode halves a seq2seq model offers (framework/task.py)."""

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor: ...
    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor: ...


class _CachedLM(Protocol):
    """The optional fast-decoding steps of a language model (framework/task.py)."""

    def forward_cached(self, input_ids: Tensor, cache: Any) -> tuple[Tensor, Any]: ...
    def reorder_cache(self, cache: Any, rows: Tensor) -> Any: ...


class _CachedSeq2Seq(_Seq2SeqParts, Protocol):
    """The optional incremental decoder of a seq2seq model (framework/task.py)."""

    def decode_cached(self, tgt_new: Tensor, memory: Tensor, src_mask: Tensor, cache: Any) -> tuple[Tensor, Any]: ...
    def reorder_cache(self, cache: Any, rows: Tensor) -> Any: ...


ROWS = torch.tensor([2, 0, 0])  # beam search's kind of reorder: one row dropped, another copied


def build_model(key: str, kind: str, seed: int = 0, **overrides: Any) -> nn.Module:
    """Model `key` for task `kind` with its tiny options (`Config.tiny(kind)`) plus `overrides`."""
    tiny = tiny_config(MODELS, key, kind)
    torch.manual_seed(seed)
    return build_component(MODELS, key, {**(tiny or {}), **overrides}, spec=spec_for(kind))


def run(model: nn.Module, kind: str, batch: dict[str, Tensor]) -> Tensor:
    """The model's forward per the call convention of `kind` (framework/task.py)."""
    logits: Tensor
    if kind == SEQ2SEQ:
        logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"])
    else:
        logits = model(batch["input_ids"], batch["attention_mask"])
    return logits


def loss_of(logits: Tensor, kind: str, batch: dict[str, Tensor]) -> Tensor:
    """Cross-entropy of `logits` for `kind` (LM: next token over real positions)."""
    logits = logits.float()
    if kind == CLASSIFICATION:
        return F.cross_entropy(logits, batch["labels"])
    if kind == LANGUAGE_MODELING:
        targets = batch["input_ids"][:, 1:].masked_fill(~batch["attention_mask"][:, 1:], -100)
        return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
    return F.cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten())


def expected_shape(kind: str, batch: dict[str, Tensor], target_vocab: int = TARGET_VOCAB) -> tuple[int, ...]:
    """The logits shape the forward contract promises for `batch`."""
    if kind == CLASSIFICATION:
        return (batch["input_ids"].shape[0], N_CLASSES)
    if kind == LANGUAGE_MODELING:
        return (*batch["input_ids"].shape, VOCAB)
    return (*batch["tgt_in"].shape, target_vocab)


def train_losses(
    model: nn.Module, kind: str, data: dict[str, Tensor], steps: int, lr: float = 2e-2, batch_size: int = 16
) -> tuple[float, float]:
    """Adam on mini-batches of `data` for `steps`; returns (mean loss of the first 3, of the last 3 steps)."""
    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    n = next(iter(data.values())).shape[0]
    losses = []
    model.train()
    for step in range(steps):
        idx = torch.arange(step * batch_size, (step + 1) * batch_size) % n
        batch = {k: v[idx] for k, v in data.items()}
        loss = loss_of(run(model, kind, batch), kind, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[:3]) / 3, sum(losses[-3:]) / 3


def _check_grads(model: nn.Module) -> None:
    """Assert every trainable parameter got a finite gradient."""
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing = [n for n, p in trainable.items() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    bad = [n for n, p in trainable.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


class ModelContract:
    """Checks for a model of one task kind: shapes, fp32 and bf16-autocast forward/backward, state round trip,
    loss falls on a learnable toy problem, optional encode/decode and cached decoding, documented options."""

    key: ClassVar[str]
    kind: ClassVar[str] = CLASSIFICATION
    config: ClassVar[dict[str, Any] | None] = None  # tiny options; None: Config.tiny(kind), else defaults
    learn_steps: ClassVar[int] = 30  # Adam steps of the loss-falls check on one fixed batch
    learn_lr: ClassVar[float] = 1e-2

    def build(self, seed: int = 0) -> nn.Module:
        """The model under test, tiny, for `kind`."""
        if self.config is None:
            return build_model(self.key, self.kind, seed)
        torch.manual_seed(seed)
        return build_component(MODELS, self.key, self.config, spec=spec_for(self.kind))

    def test_forward_backward_fp32(self) -> None:
        model, batch = self.build(), contract_batch(self.kind)
        logits = run(model, self.kind, batch)
        assert logits.shape == expected_shape(self.kind, batch)
        assert logits.dtype == torch.float32
        loss_of(logits, self.kind, batch).backward()
        _check_grads(model)

    def test_forward_backward_bf16_autocast(self) -> None:
        model, batch = self.build(), contract_batch(self.kind)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = run(model, self.kind, batch)
            loss = loss_of(logits, self.kind, batch)
        assert logits.shape == expected_shape(self.kind, batch)
        assert logits.dtype in (torch.float32, torch.bfloat16)
        assert torch.isfinite(logits.float()).all()
        loss.backward()
        _check_grads(model)
        assert all(p.dtype == torch.float32 for p in model.parameters()), "autocast must leave weights in fp32"

    @torch.no_grad()
    def test_state_dict_round_trip(self, tmp_path: Path) -> None:
        source, target = self.build(seed=0).eval(), self.build(seed=1).eval()
        batch = contract_batch(self.kind)
        assert not torch.equal(run(source, self.kind, batch), run(target, self.kind, batch)), "seeds should differ"
        torch.save(source.state_dict(), tmp_path / "model.pt")
        target.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
        assert torch.equal(run(source, self.kind, batch), run(target, self.kind, batch))

    def test_loss_falls(self) -> None:
        """Fitting one fixed batch: any model that learns gets its loss well down within a few steps."""
        batch = contract_batch(self.kind)
        data = {k: v.repeat(4, *([1] * (v.ndim - 1))) for k, v in batch.items()}  # 12 rows: one batch of 12
        first, last = train_losses(self.build(), self.kind, data, self.learn_steps, self.learn_lr, batch_size=12)
        assert last < 0.8 * first, f"loss did not fall: first steps {first:.3f}, last steps {last:.3f}"

    @torch.no_grad()
    def test_seq2seq_encode_then_decode_equals_forward(self) -> None:
        if self.kind != SEQ2SEQ:
            pytest.skip("seq2seq only")
        model, b = self.build().eval(), contract_batch(SEQ2SEQ)
        parts = cast(_Seq2SeqParts, model)
        memory = parts.encode(b["src_ids"], b["src_mask"])
        via_parts = parts.decode(b["tgt_in"], memory, b["src_mask"])
        torch.testing.assert_close(via_parts, model(b["src_ids"], b["src_mask"], b["tgt_in"]), rtol=0, atol=1e-6)

    @torch.no_grad()
    def test_forward_cached_matches_forward(self) -> None:
        model = self.build().eval()
        if self.kind != LANGUAGE_MODELING or not hasattr(model, "forward_cached"):
            pytest.skip("language models offering the optional forward_cached only")
        ids = contract_batch(LANGUAGE_MODELING)["input_ids"][:, :5].clamp_min(3)  # unpadded prompts
        full = model(ids, None)
        cached = cast(_CachedLM, model)
        head, cache = cached.forward_cached(ids[:, :3], None)
        tail, _ = cached.forward_cached(ids[:, 3:], cache)
        torch.testing.assert_close(torch.cat([head, tail], dim=1), full, rtol=1e-5, atol=1e-5)

    @torch.no_grad()
    def test_reordered_cache_continues_the_kept_rows(self) -> None:
        model = self.build().eval()
        if self.kind != LANGUAGE_MODELING or not hasattr(model, "reorder_cache"):
            pytest.skip("language models offering the optional reorder_cache only")
        ids = contract_batch(LANGUAGE_MODELING)["input_ids"][:, :5].clamp_min(3)
        cached = cast(_CachedLM, model)
        _, cache = cached.forward_cached(ids[:, :3], None)
        tail, _ = cached.forward_cached(ids[ROWS, 3:], cached.reorder_cache(cache, ROWS))
        torch.testing.assert_close(tail, model(ids[ROWS], None)[:, 3:], rtol=1e-5, atol=1e-5)

    @torch.no_grad()
    def test_decode_cached_matches_decode(self) -> None:
        model, b = self.build().eval(), contract_batch(SEQ2SEQ)
        if self.kind != SEQ2SEQ or not hasattr(model, "decode_cached"):
            pytest.skip("seq2seq models offering the optional decode_cached only")
        parts = cast(_CachedSeq2Seq, model)
        src_mask, tgt = b["src_mask"][:1].repeat(3, 1), b["tgt_in"]  # three beams of one source: any reorder is valid
        memory, steps, cache = parts.encode(b["src_ids"][:1].repeat(3, 1), src_mask), [], None
        for t in range(3):
            logits, cache = parts.decode_cached(tgt[:, t : t + 1], memory, src_mask, cache)
            steps.append(logits)
        full = parts.decode(tgt, memory, src_mask)
        torch.testing.assert_close(torch.cat(steps, dim=1), full[:, :3], rtol=1e-5, atol=1e-5)
        tail, _ = parts.decode_cached(tgt[ROWS, 3:], memory, src_mask, parts.reorder_cache(cache, ROWS))
        torch.testing.assert_close(tail, parts.decode(tgt[ROWS], memory, src_mask)[:, 3:], rtol=1e-5, atol=1e-5)

    def test_unknown_task_kind_raises_plait_error(self) -> None:
        with pytest.raises(PlaitError):
            build_component(MODELS, self.key, self.config, spec=spec_for("no_such_kind"))

    def test_options_are_documented(self) -> None:
        check_documented(MODELS, self.key)
