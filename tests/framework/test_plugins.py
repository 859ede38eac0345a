"""Entry-point plugins: built-ins and a separately installed package arrive the same way; broken ones are isolated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from framework.plugins import load_plugins
from framework.registry import MODELS, REGISTRIES
from framework.testing import run_quick


def test_builtins_come_from_the_plait_distribution() -> None:
    load_plugins()
    for kind, name in [("model", "transformer_encoder"), ("precision", "amp_fp16"), ("logger", "wandb")]:
        assert REGISTRIES[kind].source(name).distribution == "plait"


def test_example_plugin_package_adds_a_model_that_trains(tmp_path: Path) -> None:
    """tests/example_plugin is pip-installed into the test environment (see the Makefile)."""
    load_plugins()
    info = MODELS.source("bag_of_embeddings")
    assert info.distribution == "plait-example" and info.version == "0.2.0"
    result = run_quick(["model=bag_of_embeddings", "trainer.max_steps=3"], tmp_path)
    assert result.checkpoint is not None and "val/accuracy" in result.metrics


def make_distribution(root: Path, name: str, version: str, files: dict[str, str], entry_point: str = "") -> None:
    """A real installed distribution on `root` (dist-info + files), as pip would leave it.

    `files` maps paths relative to `root` to their text; the entry point defaults to the dist's module name.
    """
    module = name.replace("-", "_")
    dist = root / f"{module}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[plait.plugins]\n{entry_point or module.removeprefix('plait_')} = {module}\n")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def make_broken_distribution(root: Path) -> None:
    """A fake installed distribution whose plugin module raises on import."""
    make_distribution(root, "plait-broken", "1.0", {"plait_broken.py": "raise ImportError('needs libfoo >= 2')\n"})


def test_broken_plugin_warns_once_and_the_rest_keeps_working(tmp_path: Path) -> None:
    make_broken_distribution(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("HYDRA_FULL_ERROR", None)
    script = textwrap.dedent(
        """
        import warnings
        from framework.plugins import load_plugins
        from framework.registry import MODELS, UnknownComponentError
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_plugins()
        print("WARNINGS", [str(w.message) for w in caught])
        print("MODELS", MODELS.names())
        try:
            MODELS.build({"_name_": "broken_model"})
        except UnknownComponentError as exc:
            print("ERROR", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    warnings_line = next(line for line in out.stdout.splitlines() if line.startswith("WARNINGS"))
    assert warnings_line.count("failed to load") == 1
    assert "plait-broken" in warnings_line and "needs libfoo >= 2" in warnings_line
    assert "transformer_encoder" in next(line for line in out.stdout.splitlines() if line.startswith("MODELS"))
    error = out.stdout[out.stdout.index("ERROR") :]
    assert "plait-broken" in error and "needs libfoo >= 2" in error

    cli = subprocess.run(
        [sys.executable, "-m", "framework.cli", "train", "model=broken_model"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2
    assert "needs libfoo >= 2" in cli.stderr and "Traceback" not in cli.stderr
