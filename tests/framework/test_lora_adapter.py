"""adapter=lora (peft): only adapter weights train, checkpoints hold them alone and reload bit-exactly, and
`plait export --merge` gives the logits of base + adapter; for Plait's transformer_decoder and an hf_* model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from framework import LANGUAGE_MODELING, Callback, PlaitError
from framework.callback import TrainState
from framework.cli.commands.export import main as export_main
from framework.engine.adapter import attach_adapter
from framework.engine.checkpoint import load_latest
from framework.engine.inference import load_run
from framework.engine.resume import config_changes
from framework.engine.run import train
from framework.engine.validation import validate_config
from framework.kinds import MODELS
from framework.task import TaskSpec
from framework.testing import compose, run_quick

torch.set_num_threads(1)  # the CPU is shared

LM = ["task=language_modeling", "task.demo_size=200", "task.block_size=16", "tokenizer=char", "precision=fp32"]
LM += ["objective=val/loss"]
DECODER = ["model=transformer_decoder", "model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32"]
DECODER += ["model.max_length=32"]
STEPS = ["trainer.max_steps=4", "trainer.eval_every_n_steps=4", "trainer.checkpoint_every_n_steps=4"]


class Snapshots(Callback):
    """The trained model's parameters before the first step and after the last, by name."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}

    def on_fit_start(self, state: TrainState) -> None:
        self.before = {n: p.detach().clone() for n, p in state.model.named_parameters()}

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        self.after = {n: p.detach().clone() for n, p in state.model.named_parameters()}


def train_adapter(overrides: list[str], run_dir: Path) -> Snapshots:
    """Train `overrides` with adapter=lora into `run_dir`; the parameter snapshots around training."""
    snapshots = Snapshots()
    train(compose([*LM, *STEPS, "adapter=lora", "adapter.rank=2", *overrides]), run_dir, callbacks=[snapshots])
    return snapshots


def assert_only_adapters_changed(snapshots: Snapshots) -> None:
    """Every adapter weight that starts at zero (lora_B) moved; no other weight moved by a single bit."""
    assert snapshots.before.keys() == snapshots.after.keys()
    adapters = [n for n in snapshots.before if ".lora_" in n]
    assert adapters and all(".lora_A." in n or ".lora_B." in n for n in adapters)
    for name, before in snapshots.before.items():
        changed = not torch.equal(before, snapshots.after[name])
        if ".lora_" not in name:
            assert not changed, f"the frozen {name} changed"
        elif ".lora_B." in name:
            assert changed, f"the adapter weight {name} did not train"


def assert_adapter_checkpoint_reloads(run_dir: Path) -> Any:
    """The checkpoint holds the adapter weights only and a reopened run has exactly them; returns the reopened run."""
    loaded = load_latest(run_dir)
    assert loaded is not None
    saved = loaded.state["model"]
    assert saved and all(".lora_A." in k or ".lora_B." in k for k in saved)
    built = load_run(run_dir, device="cpu")
    reopened = built.model.state_dict()
    assert reopened.keys() == saved.keys()
    assert all(torch.equal(reopened[k], saved[k]) for k in saved)
    return built


def sample_ids(vocab_size: int) -> torch.Tensor:
    return torch.randint(0, vocab_size, (2, 12), generator=torch.Generator().manual_seed(1))


@pytest.mark.slow
def test_transformer_decoder_lora_trains_adapters_only_and_merges(tmp_path: Path) -> None:
    run_quick([*LM, *DECODER, *STEPS], tmp_path / "base")
    snapshots = train_adapter([*DECODER, f"adapter.base={tmp_path / 'base'}"], tmp_path / "lora")
    assert_only_adapters_changed(snapshots)
    summary = json.loads((tmp_path / "lora" / "model_summary.json").read_text())  # the run's model summary
    adapter_params = sum(p.numel() for n, p in snapshots.before.items() if ".lora_" in n)
    assert summary["trainable"] == adapter_params and summary["frozen"] == summary["parameters"] - adapter_params
    built = assert_adapter_checkpoint_reloads(tmp_path / "lora")
    base = load_latest(tmp_path / "base")
    assert base is not None
    frozen = {n.replace(".base_layer", ""): p for n, p in built.model.named_parameters() if ".lora_" not in n}
    assert all(torch.equal(p, base.state["model"][n]) for n, p in frozen.items())  # the base, reread

    export_main([str(tmp_path / "lora"), str(tmp_path / "merged"), "--merge"])
    merged = load_run(tmp_path / "merged", device="cpu")
    assert not any(".lora_" in k or "base_layer" in k for k in merged.model.state_dict())
    x = sample_ids(built.spec.vocab_size)
    with torch.no_grad():
        torch.testing.assert_close(merged.model(x), built.model(x), atol=1e-5, rtol=0)

    with pytest.raises(
        PlaitError, match=r"export with merge=true \(or --merge\)"
    ):  # adapter weights alone are no model to export
        export_main([str(tmp_path / "lora"), str(tmp_path / "unmerged")])
    with pytest.raises(PlaitError, match=r"model.d_model: base 16, this run 24"):  # the base's weights would not fit
        train_adapter([*DECODER, "model.d_model=24", f"adapter.base={tmp_path / 'base'}"], tmp_path / "wider")
    with pytest.raises(PlaitError, match="holds adapter weights only"):  # an adapter is no base: merge it first
        train_adapter([*DECODER, f"adapter.base={tmp_path / 'lora'}"], tmp_path / "stacked")
    train_adapter([*DECODER, f"adapter.base={tmp_path / 'merged'}"], tmp_path / "stacked")  # a merged one is

    # resuming reloads base + adapter and goes on
    result = run_quick([*LM, *DECODER, *STEPS, "adapter=lora", "adapter.rank=2", f"adapter.base={tmp_path / 'base'}",
                        "trainer.max_steps=6", "trainer.resume=auto"], tmp_path / "lora")  # fmt: skip
    assert result.checkpoint is not None and result.checkpoint.name == "step_0000006"


@pytest.mark.slow
def test_every_cpu_precision_trains_adapters_only(tmp_path: Path) -> None:
    """bf16 (pure, Kahan buffers), fp64_master (masters) and amp_bf16 (base stored in the autocast dtype): the
    frozen base never moves and the saved training state (master weights, compensation buffers) holds the
    adapters alone."""
    run_quick([*LM, *DECODER, *STEPS], tmp_path / "base")
    for precision in ("bf16", "fp64_master", "amp_bf16"):
        snapshots = train_adapter([*DECODER, f"adapter.base={tmp_path / 'base'}", f"precision={precision}"],
                                  tmp_path / precision)  # fmt: skip
        assert_only_adapters_changed(snapshots)
        loaded = load_latest(tmp_path / precision)
        assert loaded is not None
        kept = {**loaded.state["precision"].get("master", {}), **loaded.state["precision"].get("compensation", {})}
        assert kept.keys() <= loaded.state["model"].keys(), precision
        assert kept or precision == "amp_bf16", precision
        if precision == "amp_bf16":  # the frozen base of the adapted layers in the autocast dtype, adapters fp32
            after = snapshots.after.items()
            assert {p.dtype for n, p in after if n.endswith("base_layer.weight")} == {torch.bfloat16}
            assert {p.dtype for n, p in after if ".lora_" in n} == {torch.float32}
            reopened = assert_adapter_checkpoint_reloads(tmp_path / precision)
            assert {p.dtype for n, p in reopened.model.named_parameters() if "base_layer" in n} == {torch.bfloat16}


def tiny_gpt2(directory: Path) -> int:
    """A tiny GPT-2 written by `save_pretrained` (random weights, built here, no hub); returns its vocabulary size."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=300, n_positions=32, n_embd=16, n_layer=1, n_head=2, n_inner=32)
    GPT2LMHeadModel(config).save_pretrained(str(directory))
    return int(config.vocab_size)


@pytest.mark.slow
def test_hf_causal_lm_lora_trains_adapters_only_and_exports_merged(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    pretrained = tmp_path / "gpt2"
    vocab = tiny_gpt2(pretrained)
    model = ["model=hf_causal_lm", f"model.pretrained={pretrained}", "adapter.target_modules=[c_attn]"]
    snapshots = train_adapter(model, tmp_path / "lora")
    assert_only_adapters_changed(snapshots)
    assert all("c_attn" in n for n in snapshots.before if ".lora_" in n)
    built = assert_adapter_checkpoint_reloads(tmp_path / "lora")

    export_main([str(tmp_path / "lora"), str(tmp_path / "merged"), "--merge"])
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), local_files_only=True).eval()
    original = AutoModelForCausalLM.from_pretrained(str(pretrained), local_files_only=True)
    x = sample_ids(vocab)
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=x).logits, built.model(x), atol=1e-5, rtol=0)
        assert not torch.allclose(hf(input_ids=x).logits, original(input_ids=x).logits)  # the adapter did something


def decoder_model() -> tuple[Any, Any]:
    """A composed adapter=lora config and its tiny transformer_decoder (built, not trained)."""
    cfg = compose([*LM, *DECODER, "adapter=lora"])
    spec = TaskSpec(LANGUAGE_MODELING, vocab_size=20, pad_id=0, max_length=16)
    return cfg, MODELS.build(cfg.model, spec=spec)


def test_target_matching_no_layer_lists_the_linear_layers() -> None:
    cfg, model = decoder_model()
    cfg.adapter.target_modules = ["qkv", "c_attn"]
    with pytest.raises(PlaitError, match="'c_attn' matches none") as err:
        attach_adapter(cfg, model)
    for layer in ("decoder.blocks.*.attn.qkv", "decoder.blocks.*.attn.out", "decoder.blocks.*.ff.net.3", "head"):
        assert layer in str(err.value)


def test_lora_without_a_pretrained_base_is_refused() -> None:
    cfg, model = decoder_model()
    for check in (lambda: validate_config(cfg), lambda: attach_adapter(cfg, model)):  # before any work, and at build
        with pytest.raises(PlaitError, match=r"adapter.base=<a Plait run dir or checkpoint>"):
            check()


def test_a_config_saved_before_adapters_resumes_as_adapter_none() -> None:
    cfg = compose([*LM, *DECODER])
    saved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(saved, dict) and saved.pop("adapter") == {"_name_": "none"}
    assert config_changes(OmegaConf.to_yaml(saved), cfg) == {}
    assert config_changes(OmegaConf.to_yaml(saved), compose([*LM, *DECODER, "adapter=lora"]))


def test_missing_peft_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, model = decoder_model()
    monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed: `import peft` raises ImportError
    with pytest.raises(PlaitError, match=r"pip install 'plait\[peft\]'"):
        attach_adapter(cfg, model)
