"""Contract suites: the checks every component of a kind must pass, for the built-ins and for plugins alike.

A plugin's test subclasses the suite of its kind and names its component; pytest collects the checks:

    from framework.testing import ModelContract

    class TestTextCNN(ModelContract):
        key = "textcnn"                  # the registry key
        kind = "classification"          # the task kind this case builds it for

Tiny sizes come from `config` on the test class, else from an optional `tiny(kind)` classmethod on the
component's config dataclass (returning option overrides for that task kind, or None when the component
does not support it), else the defaults. Suites: TokenizerContract, ModelContract, OptimizerContract,
SchedulerContract, LoggerContract, CallbackContract, PrecisionContract.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, cast

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import kinds as registries
from framework.errors import PlaitError
from framework.registry import Registry
from framework.schema import NAME_FIELD
from framework.task import CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ, TaskSpec

KINDS = (CLASSIFICATION, LANGUAGE_MODELING, SEQ2SEQ)
VOCAB, TARGET_VOCAB, N_CLASSES, PAD, BOS, EOS = 23, 19, 3, 0, 1, 2
T = TypeVar("T")


class _Seq2SeqParts(Protocol):
    """The encode/decode halves a seq2seq model offers (framework/task.py)."""

    def encode(self, src_ids: Tensor, src_mask: Tensor) -> Tensor: ...
    def decode(self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor) -> Tensor: ...


class _CachedLM(Protocol):
    """The optional fast-decoding step of a language model (framework/task.py)."""

    def forward_cached(self, input_ids: Tensor, cache: Any) -> tuple[Tensor, Any]: ...


def _loaded(registry: Registry[T]) -> Registry[T]:
    from framework.plugins import load_plugins

    load_plugins()  # registries are empty until the plugins are loaded
    return registry


def tiny_config(registry: Registry[Any], key: str, kind: str | None = None) -> dict[str, Any] | None:
    """The tiny test options a component declares through `Config.tiny(kind)`: {} when it declares none,
    None when it declares that it does not support `kind`."""
    tiny = getattr(_loaded(registry).config_class(key), "tiny", None)
    if tiny is None:
        return {}
    options: dict[str, Any] | None = tiny(kind) if kind is not None else tiny(None)
    return options


def _check_documented(registry: Registry[Any], key: str) -> None:
    """Every option carries a trailing `# comment` (its `plait describe` text); the factory has a docstring."""
    from framework.cli.describe import field_comments

    schema = registry.config_class(key)
    comments = field_comments(schema)
    undocumented = [f.name for f in dataclasses.fields(schema) if f.name != NAME_FIELD and f.name not in comments]
    assert not undocumented, f"{schema.__name__} fields without a trailing # comment: {undocumented}"
    assert (registry.factory(key).__doc__ or "").strip(), "the factory's docstring is its `plait list` line"


# -- models ------------------------------------------------------------------------------------------


def keep_mask(lengths: list[int], length: int) -> Tensor:
    """(B, length) bool mask, True on the first lengths[b] positions (right padding)."""
    return torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]


def spec_for(kind: str, *, shared_vocab: bool = False, vocab: list[str] | None = None, **extra: Any) -> TaskSpec:
    """A tiny TaskSpec of `kind` (seq2seq gets a separate target vocabulary unless `shared_vocab`)."""
    target = None if shared_vocab or kind != SEQ2SEQ else TARGET_VOCAB
    return TaskSpec(
        kind=kind,
        vocab_size=VOCAB,
        pad_id=PAD,
        n_classes=N_CLASSES,
        max_length=32,
        target_vocab_size=target,
        vocab=vocab or [],
        extra={"bos_id": BOS, "eos_id": EOS},
        **extra,
    )


def build_model(key: str, kind: str, seed: int = 0, **overrides: Any) -> nn.Module:
    """Model `key` for task `kind` with its tiny options (`Config.tiny(kind)`) plus `overrides`."""
    tiny = tiny_config(registries.MODELS, key, kind)
    torch.manual_seed(seed)
    cfg = registries.MODELS.config(key, **{**(tiny or {}), **overrides})
    return registries.MODELS.build(cfg, spec=spec_for(kind))


def contract_batch(kind: str, seed: int = 0) -> dict[str, Tensor]:
    """A random right-padded batch (B=3) for `kind`, with the targets its loss needs."""
    g = torch.Generator().manual_seed(seed)
    mask = keep_mask([6, 4, 2], 6)
    ids = torch.randint(3, VOCAB, (3, 6), generator=g).masked_fill(~mask, PAD)
    if kind == CLASSIFICATION:
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2])}
    if kind == LANGUAGE_MODELING:
        return {"input_ids": ids, "attention_mask": mask}
    tgt = torch.randint(3, TARGET_VOCAB, (3, 5), generator=g)
    tgt_in = torch.cat([torch.full((3, 1), BOS), tgt[:, :-1]], dim=1)
    return {"src_ids": ids, "src_mask": mask, "tgt_in": tgt_in, "tgt_out": tgt}


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


def signal_classification(n: int = 48, length: int = 8, seed: int = 0) -> dict[str, Tensor]:
    """Each sequence holds one signal token (3, 4 or 5) among noise tokens; the label is which one."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    mask = keep_mask(lengths.tolist(), length)
    ids = torch.randint(6, VOCAB, (n, length), generator=g)
    labels = torch.randint(0, N_CLASSES, (n,), generator=g)
    where = (torch.rand(n, generator=g) * lengths).long()
    ids[torch.arange(n), where] = 3 + labels
    return {"input_ids": ids.masked_fill(~mask, PAD), "attention_mask": mask, "labels": labels}


def counting_lm(n: int = 32, length: int = 10, seed: int = 0) -> dict[str, Tensor]:
    """Sequences counting up through tokens 3..VOCAB-1 (wrapping) from a random start."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, VOCAB - 3, (n, 1), generator=g)
    ids = 3 + (start + torch.arange(length)) % (VOCAB - 3)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool)}


def copy_seq2seq(n: int = 48, length: int = 6, seed: int = 0, target_vocab: int = TARGET_VOCAB) -> dict[str, Tensor]:
    """Copy task: the target repeats the source (tokens 3..target_vocab-1)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, target_vocab, (n, length), generator=g)
    mask = torch.ones_like(src, dtype=torch.bool)
    tgt_in = torch.cat([torch.full((n, 1), BOS), src[:, :-1]], dim=1)
    return {"src_ids": src, "src_mask": mask, "tgt_in": tgt_in, "tgt_out": src.clone()}


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
        return _loaded(registries.MODELS).build(
            registries.MODELS.config(self.key, **self.config), spec=spec_for(self.kind)
        )

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

    def test_unknown_task_kind_raises_plait_error(self) -> None:
        with pytest.raises(PlaitError):
            _loaded(registries.MODELS).build(
                registries.MODELS.config(self.key, **(self.config or {})), spec=spec_for("no_such_kind")
            )

    def test_options_are_documented(self) -> None:
        _check_documented(_loaded(registries.MODELS), self.key)


# -- tokenizers --------------------------------------------------------------------------------------

_WORDS = ["ein", "mann", "eine", "frau", "kind", "spielt", "läuft", "im", "park", "the", "dog", "runs", "fast", "42"]


def tokenizer_corpus(n: int = 200, seed: int = 0) -> list[str]:
    """`n` short single-spaced sentences over a small German/English vocabulary."""
    import random

    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 8))) + rng.choice([".", "!", "?"]) for _ in range(n)
    ]


class TokenizerContract:
    """Checks for a tokenizer: round trip (as promised by `round_trip`), save/load gives the same ids and
    vocabulary, the shared special ids, batch == single, vocabulary consistent with ids."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    #: what decode(encode(text)) promises: "exact" (== text), "normalised" (== text for normalised text made of
    #: seen characters) or "stable" (re-encoding the decoded text gives the same ids)
    round_trip: ClassVar[str] = "stable"
    pretrained: ClassVar[bool] = False  # ids come from elsewhere: the special-id layout is not checked

    def corpus(self) -> list[str]:
        """Training text."""
        return tokenizer_corpus()

    def held_out(self) -> list[str]:
        """Unseen sentences over the same vocabulary."""
        return tokenizer_corpus(20, seed=99)

    def make(self, tmp_path: Path) -> Any:
        """The tokenizer under test, trained on `corpus()`."""
        tokenizer = _loaded(registries.TOKENIZERS).build(registries.TOKENIZERS.config(self.key, **self.config))
        tokenizer.train(self.corpus())
        return tokenizer

    def test_round_trip(self, tmp_path: Path) -> None:
        tokenizer, texts = self.make(tmp_path), self.held_out()
        ids = tokenizer.encode_batch(texts)
        decoded = tokenizer.decode_batch(ids)
        if self.round_trip == "stable":
            assert tokenizer.encode_batch(decoded) == ids
        else:
            assert decoded == texts
        assert all(len(x) > 0 for x, t in zip(ids, texts, strict=True) if t)

    def test_save_load_gives_same_ids(self, tmp_path: Path) -> None:
        tokenizer = self.make(tmp_path)
        tokenizer.save(tmp_path / "saved")
        fresh = registries.TOKENIZERS.build(
            registries.TOKENIZERS.config(self.key)
        )  # default config: loading restores everything
        fresh.load(tmp_path / "saved")
        assert fresh.encode_batch(self.held_out()) == tokenizer.encode_batch(self.held_out())
        assert fresh.vocab_size == tokenizer.vocab_size
        assert fresh.vocabulary() == tokenizer.vocabulary()
        assert fresh.pad_id == tokenizer.pad_id

    def test_shared_special_ids(self, tmp_path: Path) -> None:
        from framework.tokenizer import SPECIAL_TOKENS

        if self.pretrained:
            pytest.skip("a pretrained vocabulary keeps its own ids")
        tokenizer = self.make(tmp_path)
        assert [tokenizer.special_id(role) for role in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
        assert tokenizer.vocabulary()[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS.values())
        text = self.held_out()[0]
        assert not set(tokenizer.encode(text)) & set(range(len(SPECIAL_TOKENS))), "specials never come from text"
        wrapped = [tokenizer.special_id("bos"), *tokenizer.encode(text), tokenizer.special_id("eos")]
        assert tokenizer.decode(wrapped) == tokenizer.decode(tokenizer.encode(text)), "specials are skipped"

    def test_batch_encode_equals_single(self, tmp_path: Path) -> None:
        tokenizer, texts = self.make(tmp_path), self.held_out()[:8]
        batch = tokenizer.encode_batch(texts)
        assert batch == [tokenizer.encode(t) for t in texts]
        assert tokenizer.decode_batch(batch) == [tokenizer.decode(ids) for ids in batch]

    def test_vocabulary_matches_ids(self, tmp_path: Path) -> None:
        tokenizer = self.make(tmp_path)
        vocab = tokenizer.vocabulary()
        assert len(vocab) == tokenizer.vocab_size
        assert all(tokenizer.token_to_id(tok) == i for i, tok in enumerate(vocab))
        assert max(max(ids, default=0) for ids in tokenizer.encode_batch(self.held_out())) < tokenizer.vocab_size


# -- optimizers and schedulers -----------------------------------------------------------------------


def _toy_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 1))


def _toy_loss(model: nn.Module) -> Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g)
    y = x.sum(dim=1, keepdim=True).sin()
    return F.mse_loss(model(x), y)


def _steps(model: nn.Module, optimizer: torch.optim.Optimizer, n: int, scheduler: Any = None) -> list[float]:
    losses = []
    for _ in range(n):
        loss = _toy_loss(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()  # once per optimizer step
        losses.append(loss.item())
    return losses


class OptimizerContract:
    """Checks for an optimizer factory (`factory(cfg, *, model)`): every trainable parameter in exactly one
    group, the loss falls on a toy regression, and state_dict resume continues exactly."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    steps: ClassVar[int] = 40

    def build(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer under test over `model`'s parameters."""
        return _loaded(registries.OPTIMIZERS).build(registries.OPTIMIZERS.config(self.key, **self.config), model=model)

    def test_every_trainable_parameter_in_exactly_one_group(self) -> None:
        model = _toy_model()
        next(model.parameters()).requires_grad_(False)
        grouped = [id(p) for group in self.build(model).param_groups for p in group["params"]]
        assert len(grouped) == len(set(grouped)), "a parameter appears in two groups"
        assert set(grouped) == {id(p) for p in model.parameters() if p.requires_grad}

    def test_loss_falls(self) -> None:
        model = _toy_model()
        losses = _steps(model, self.build(model), self.steps)
        assert losses[-1] < 0.9 * losses[0], f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"

    def test_resume_continues_exactly(self, tmp_path: Path) -> None:
        straight = _toy_model()
        optimizer = self.build(straight)
        _steps(straight, optimizer, 6)

        first = _toy_model()
        opt_first = self.build(first)
        _steps(first, opt_first, 3)
        torch.save({"model": first.state_dict(), "opt": opt_first.state_dict()}, tmp_path / "ckpt.pt")
        resumed = _toy_model(seed=5)
        opt_resumed = self.build(resumed)
        state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
        resumed.load_state_dict(state["model"])
        opt_resumed.load_state_dict(state["opt"])
        _steps(resumed, opt_resumed, 3)
        for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)

    def test_options_are_documented(self) -> None:
        _check_documented(_loaded(registries.OPTIMIZERS), self.key)


class SchedulerContract:
    """Checks for a scheduler factory (`factory(cfg, *, optimizer, max_steps)`), stepped once per optimizer
    step: learning rates stay finite and non-negative over `max_steps`, and state_dict resume repeats them."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    max_steps: ClassVar[int] = 20

    def build(self, optimizer: torch.optim.Optimizer) -> Any:
        """The scheduler under test over `optimizer`."""
        return _loaded(registries.SCHEDULERS).build(
            registries.SCHEDULERS.config(self.key, **self.config), optimizer=optimizer, max_steps=self.max_steps
        )

    def _lrs(self, n: int, state: dict[str, Any] | None = None) -> tuple[list[float], Any, Any]:
        model = _toy_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = self.build(optimizer)
        if state is not None:
            optimizer.load_state_dict(state["opt"])
            scheduler.load_state_dict(state["sched"])
        lrs = []
        for _ in range(n):
            _steps(model, optimizer, 1, scheduler)
            lrs.append(optimizer.param_groups[0]["lr"])
        return lrs, optimizer, scheduler

    def test_learning_rates_are_finite_and_non_negative(self) -> None:
        lrs, _, _ = self._lrs(self.max_steps)
        assert all(lr >= 0 and lr == lr and lr != float("inf") for lr in lrs), lrs
        assert max(lrs) > 0, "the schedule never trains"

    def test_resume_repeats_the_schedule(self, tmp_path: Path) -> None:
        straight, _, _ = self._lrs(self.max_steps)
        half = self.max_steps // 2
        _, optimizer, scheduler = self._lrs(half)
        torch.save({"opt": optimizer.state_dict(), "sched": scheduler.state_dict()}, tmp_path / "s.pt")
        rest, _, _ = self._lrs(self.max_steps - half, torch.load(tmp_path / "s.pt", weights_only=False))
        assert rest == pytest.approx(straight[half:], rel=1e-9)

    def test_options_are_documented(self) -> None:
        _check_documented(_loaded(registries.SCHEDULERS), self.key)


# -- loggers and callbacks ---------------------------------------------------------------------------


def _drive_events(observer: Any, run_dir: Path, *, steps: int, start: int = 0) -> None:
    """The events of a short fit, in the order the trainer emits them (see framework/callback.py)."""
    from framework.callback import TrainState
    from framework.logger import Logger

    state = TrainState(step=start, max_steps=start + steps, run_dir=run_dir)
    observer.on_fit_start(state)
    for step in range(start + 1, start + steps + 1):
        state.step = step
        observer.on_step_end(state)
        if isinstance(observer, Logger):
            observer.log_metrics({"train/loss": 1.0 / step, "train/lr": 1e-3}, step)
        if step % 2 == 0:
            observer.on_eval_end(state, {"val/loss": 0.5, "val/accuracy": 0.75})
            (run_dir / f"ckpt-{step}").mkdir(exist_ok=True)
            observer.on_checkpoint(state, run_dir / f"ckpt-{step}")
    observer.on_fit_end(state, {"val/loss": 0.5})
    if isinstance(observer, Logger):
        observer.log_summary({"run_dir": str(run_dir), "val/accuracy": 0.75})
        observer.close(state, "finished")


class CallbackContract:
    """Checks for a callback factory (`factory(cfg, *, run_dir)`): it survives every event in order, and its
    state_dict is checkpoint-safe (loads with weights_only) and restores into a fresh instance (resume)."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    registry: ClassVar[Registry[Any]] = registries.CALLBACKS

    def build(self, run_dir: Path) -> Any:
        """The component under test writing into `run_dir`."""
        return _loaded(self.registry).build(self.registry.config(self.key, **self.config), **self.deps(run_dir))

    def deps(self, run_dir: Path) -> dict[str, Any]:
        """The keyword arguments the factory receives (framework/run.py)."""
        return {"run_dir": run_dir}

    def test_survives_every_event_in_order(self, tmp_path: Path) -> None:
        _drive_events(self.build(tmp_path), tmp_path, steps=4)

    def test_state_round_trip_and_resume(self, tmp_path: Path) -> None:
        first = self.build(tmp_path)
        _drive_events(first, tmp_path, steps=2)
        torch.save(first.state_dict(), tmp_path / "state.pt")
        state = torch.load(tmp_path / "state.pt", weights_only=True)  # what checkpoints allow
        json.dumps(state, default=str)
        resumed = self.build(tmp_path)
        resumed.load_state_dict(state)
        _drive_events(resumed, tmp_path, steps=2, start=2)

    def test_options_are_documented(self) -> None:
        _check_documented(_loaded(self.registry), self.key)


class LoggerContract(CallbackContract):
    """Checks for a logger factory (`factory(cfg, *, run_dir, config)`): the callback checks plus metrics and
    summaries, close(), and resuming into the same run directory (it must continue, not start over)."""

    registry: ClassVar[Registry[Any]] = registries.LOGGERS

    def deps(self, run_dir: Path) -> dict[str, Any]:
        """Loggers also receive the resolved run config as a plain dict."""
        return {"run_dir": run_dir, "config": {"trainer": {"max_steps": 4}, "model": {"_name_": "tiny"}}}


# -- precision ---------------------------------------------------------------------------------------


class PrecisionContract:
    """Checks for a precision strategy on CPU (skipped when the device cannot run it): a training step through
    setup/autocast/backward/step, the model's output stays finite, and its state round-trips."""

    key: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    device: ClassVar[str] = "cpu"

    def setup(self) -> tuple[Any, nn.Module, torch.optim.Optimizer]:
        """(strategy, model on the device, optimizer over the strategy's optimizer target)."""
        from framework.errors import UnsupportedPrecisionError

        strategy = _loaded(registries.PRECISIONS).build(registries.PRECISIONS.config(self.key, **self.config))
        try:
            model = strategy.setup(_toy_model(), torch.device(self.device))
        except UnsupportedPrecisionError as exc:
            pytest.skip(f"{self.key} cannot run on {self.device}: {exc}")
        optimizer = torch.optim.AdamW(strategy.optimizer_target(model).parameters(), lr=1e-2)
        return strategy, model, optimizer

    def _train(self, strategy: Any, model: nn.Module, optimizer: torch.optim.Optimizer, n: int) -> list[float]:
        losses = []
        for _ in range(n):
            with strategy.autocast():
                loss = _toy_loss(model)
            strategy.backward(loss)
            stepped = strategy.step(optimizer, 1.0, measure=True)
            assert isinstance(stepped, bool)
            losses.append(float(loss.detach()))
        return losses

    def test_training_steps_run_and_stay_finite(self) -> None:
        strategy, model, optimizer = self.setup()
        losses = self._train(strategy, model, optimizer, 8)
        assert all(loss == loss and abs(loss) != float("inf") for loss in losses), losses
        assert all(isinstance(v, float | int) for v in strategy.metrics().values())

    def test_state_round_trip(self, tmp_path: Path) -> None:
        strategy, model, optimizer = self.setup()
        self._train(strategy, model, optimizer, 3)
        torch.save(strategy.state_dict(), tmp_path / "precision.pt")
        fresh, _, _ = self.setup()
        fresh.load_state_dict(torch.load(tmp_path / "precision.pt", weights_only=True))
        assert _flat(fresh.state_dict()) == _flat(strategy.state_dict())

    def test_options_are_documented(self) -> None:
        _check_documented(_loaded(registries.PRECISIONS), self.key)


def _flat(state: Any) -> Any:
    """A comparable form of a state dict (tensors as lists)."""
    if isinstance(state, dict):
        return {k: _flat(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return [_flat(v) for v in state]
    if isinstance(state, Tensor):
        return state.tolist()
    return state


__all__ = [
    "KINDS",
    "CallbackContract",
    "LoggerContract",
    "ModelContract",
    "OptimizerContract",
    "PrecisionContract",
    "SchedulerContract",
    "TokenizerContract",
    "build_model",
    "contract_batch",
    "spec_for",
    "tiny_config",
    "train_losses",
]
