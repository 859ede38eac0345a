"""`plait export` with a format: ONNX, TorchScript and safetensors of a classifier and a decoder LM reload (outside
Plait's own code path: onnxruntime, torch.jit.load, safetensors) and give the checkpoint's outputs within 1e-4; the
`plait` format is a checkpoint the commands open; a bad format or a missing extra is one clear error."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch

from framework.cli.commands.export import main as export_main
from framework.engine.build import Built
from framework.engine.graph_export import sample_inputs
from framework.engine.inference import load_run
from framework.errors import PlaitError
from framework.testing import run_quick

TINY = ["model.d_model=16", "model.d_ff=32", "model.n_heads=2", "precision=fp32", "trainer.max_steps=2"]
RUNS = {
    "classifier": ["task.demo_size=200", "model=transformer_encoder", *TINY],
    "decoder_lm": [
        "task=language_modeling", "task.demo_size=200", "task.block_size=16", "model=transformer_decoder",
        "objective=val/loss", *TINY,
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny trained run of each family (two training steps each)."""
    root = tmp_path_factory.mktemp("export_runs")
    for name, overrides in RUNS.items():
        run_quick(overrides, root / name)
    return {name: root / name for name in RUNS}


@pytest.fixture(scope="module")
def opened(runs: dict[str, Path]) -> dict[str, Built]:
    """Each run reopened once, through Plait's own inference path: the reference outputs."""
    return {name: load_run(run, device="cpu") for name, run in runs.items()}


def reference(built: Built, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The checkpoint's outputs."""
    with torch.no_grad():
        return built.model(ids, mask)


def reload_and_run(fmt: str, out: Path, built: Built, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run the exported file with the library a serving stack would use."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        feed = {i.name: feed[i.name] for i in session.get_inputs()}
        return torch.from_numpy(session.run(None, feed)[0])
    if fmt == "torchscript":
        return torch.jit.load(str(out / "model.pt"))(ids, mask)
    from safetensors.torch import load_file

    model = copy.deepcopy(built.model)
    for p in model.parameters():
        torch.nn.init.zeros_(p)  # every weight must come from the file
    weights = load_file(str(out / "model.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k in weights for k in model.state_dict() if k not in missing)
    with torch.no_grad():
        return model(ids, mask)


@pytest.mark.slow
@pytest.mark.parametrize("family", list(RUNS))
@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_exports_reload_and_match_the_checkpoint(
    runs: dict[str, Path], opened: dict[str, Built], family: str, fmt: str, tmp_path: Path
) -> None:
    built, out = opened[family], tmp_path / "out"
    export_main([str(runs[family]), str(out), f"--format={fmt}"])
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["format"] == fmt and (out / "tokenizer").is_dir()
    for batch, length in ((1, 3), (4, 13)):  # shapes other than the traced and the checked ones: dynamic axes
        ids, mask = sample_inputs(built.spec, batch, length, seed=7)
        torch.testing.assert_close(
            reload_and_run(fmt, out, built, ids, mask), reference(built, ids, mask), atol=1e-4, rtol=1e-4
        )


@pytest.mark.slow
def test_plait_format_is_a_checkpoint_the_commands_open(
    runs: dict[str, Path], opened: dict[str, Built], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "exported"
    export_main([str(runs["classifier"]), str(out)])  # the default for Plait's models
    assert "exported (plait)" in capsys.readouterr().out
    original, reopened = opened["classifier"], load_run(out, device="cpu")
    for (name, want), got in zip(
        original.model.state_dict().items(), reopened.model.state_dict().values(), strict=True
    ):
        assert torch.equal(want, got), name
    assert "optimizer" not in reopened.state and reopened.spec == original.spec
    from framework.cli.commands.predict import main as predict_main

    predict_main([str(out), "text=a fine film"])
    assert "a fine film" in capsys.readouterr().out
    export_main([str(runs["classifier"]), str(out), "format=plait", "weights=model"])  # an earlier export: replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # no staging directory left beside it
    with pytest.raises(PlaitError, match="is the checkpoint being exported"):
        export_main([str(out), str(out)])


def test_an_unknown_format_is_an_error_listing_the_formats(tmp_path: Path) -> None:
    with pytest.raises(
        PlaitError, match="format=tflite is not an export format. Formats: plait: .*onnx: .*safetensors"
    ):
        export_main([str(tmp_path / "no_run"), str(tmp_path / "out"), "--format", "tflite"])
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_missing_onnx_names_the_extra(runs: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # what an environment without the extra looks like to import
    with pytest.raises(PlaitError, match=r"format=onnx needs the 'onnx' package: pip install 'plait\[export\]'"):
        export_main([str(runs["classifier"]), str(tmp_path / "out"), "format=onnx"])
    assert not (tmp_path / "out" / "model.onnx").exists()
