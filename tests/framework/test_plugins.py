"""Entry-point plugins: built-ins and a separately installed package arrive the same way; broken ones are isolated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from framework.kinds import MODELS, REGISTRIES
from framework.plugins import load_plugins
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
    # its experiment preset selects its preset model, its scheduler and its logger
    result = run_quick(["experiment=example_bag", "trainer.max_steps=3", "logger=[jsonl,best_metrics]"], tmp_path)
    assert result.checkpoint is not None and "val/accuracy" in result.metrics
    config = (tmp_path / "config.yaml").read_text()
    assert "_name_: bag_of_embeddings\n" in config and "d_model: 256" in config and "_name_: noam" in config
    assert "val/accuracy" in (tmp_path / "best.json").read_text()


def make_distribution(root: Path, name: str, version: str, files: dict[str, str], entry_point: str = "") -> None:
    """A real installed distribution on `root` (dist-info + files), as pip would leave it.

    `files` maps paths relative to `root` to their text; the entry point defaults to the dist's module name.
    """
    module = name.replace("-", "_")
    dist = root / f"{module}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(
        f"[plait.plugins]\n{entry_point or module.removeprefix('plait_')} = {module}\n"
    )
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
        from framework.kinds import MODELS
        from framework.errors import UnknownComponentError
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


CLASHING = """
    from dataclasses import dataclass
    from framework import MODELS, ComponentConfig

    PLAIT_API = 1

    @dataclass
    class TextCNNConfig(ComponentConfig):
        width: int = 7  # filters

    @MODELS.register("lstm", config=TextCNNConfig)  # clashes with the built-in
    def build_lstm(cfg, *, spec):
        \"\"\"{dist}'s lstm.\"\"\"
        return ("{dist}", cfg.width)

    @MODELS.register("textcnn", config=TextCNNConfig)  # clashes between the two third-party packages
    def build_textcnn(cfg, *, spec):
        \"\"\"{dist}'s textcnn.\"\"\"
        return ("{dist}", cfg.width)
"""

HALF_REGISTERED = """
    from dataclasses import dataclass
    from framework import LOGGERS, MODELS, ComponentConfig

    @dataclass
    class HalfConfig(ComponentConfig):
        size: int = 1  # size

    @MODELS.register("half_model", config=HalfConfig)
    def build_half(cfg, *, spec):
        \"\"\"Registered before the failure.\"\"\"

    @LOGGERS.register("half_logger", config=HalfConfig)
    def build_half_logger(cfg, **kw):
        \"\"\"Registered before the failure.\"\"\"

    raise RuntimeError("the GPU library is missing")
"""

FUTURE_API = """
    from dataclasses import dataclass
    from framework import MODELS, ComponentConfig
    PLAIT_API = 2

    @dataclass
    class FutureConfig(ComponentConfig):
        size: int = 1  # size

    @MODELS.register("future_model", config=FutureConfig)
    def build_future(cfg, *, spec):
        \"\"\"Targets a newer plugin API.\"\"\"
"""


def run_python(script: str, root: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with the fake distributions under `root` installed (on PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env_extra}
    env.pop("HYDRA_FULL_ERROR", None)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out


def result(out: subprocess.CompletedProcess[str], tag: str) -> str:
    """The text a script printed after `tag`."""
    return next(line for line in out.stdout.splitlines() if line.startswith(tag)).removeprefix(tag).strip()


def make_plugins(root: Path) -> None:
    """Two clashing third-party distributions, one failing half-way, one targeting another plugin API."""
    make_distribution(root, "plait-zzz", "2.0", {"plait_zzz.py": CLASHING.replace("{dist}", "plait-zzz")})
    make_distribution(root, "plait-textcnn", "0.3.1", {"plait_textcnn.py": CLASHING.replace("{dist}", "plait-textcnn")})
    make_distribution(root, "plait-half", "1.0", {"plait_half.py": HALF_REGISTERED})
    make_distribution(root, "plait-future", "1.0", {"plait_future.py": FUTURE_API})


def test_clashes_keep_builtins_and_failed_plugins_leave_nothing_behind(tmp_path: Path) -> None:
    make_plugins(tmp_path)
    out = run_python(
        """
        import warnings
        from hydra.core.config_store import ConfigStore
        from framework.plugins import load_plugins
        from framework.kinds import LOGGERS, MODELS
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            load_plugins()
        for w in caught:
            print("WARNING", type(w.message).__name__, w.message)
        print("MODELS", MODELS.names())
        print("LSTM", MODELS.source("lstm").distribution)
        print("QUALIFIED", MODELS.build({"_name_": "plait_textcnn.lstm", "width": 3}, spec=None))
        print("TEXTCNN", MODELS.build({"_name_": "textcnn"}, spec=None), MODELS.build({"_name_": "plait_zzz.textcnn"}, spec=None))
        repo = ConfigStore.instance().repo
        print("STORE", sorted(n for g in ("model", "logger") for n in repo[g] if "half" in n or "future" in n))
        print("LOGGERS", LOGGERS.names())
        """,
        tmp_path,
    )
    warned = [line for line in out.stdout.splitlines() if line.startswith("WARNING")]
    clashes = [w for w in warned if "PluginClashWarning" in w]
    assert len(clashes) == 3, warned  # lstm twice (the built-in keeps it), textcnn once (name order)
    lstm = next(w for w in clashes if "'lstm'" in w and "plait-textcnn" in w)
    assert "plait and plait-textcnn" in lstm and "`model=plait_textcnn.lstm`" in lstm
    assert any(
        "'textcnn'" in w and "plait-textcnn and plait-zzz" in w and "model=plait_zzz.textcnn" in w for w in clashes
    )
    assert result(out, "LSTM") == "plait"
    models = result(out, "MODELS")
    assert all(k in models for k in ("'gru'", "'transformer_encoder'", "'transformer_decoder'", "'lstm'"))
    assert result(out, "QUALIFIED") == "('plait-textcnn', 3)"
    assert result(out, "TEXTCNN") == "('plait-textcnn', 7) ('plait-zzz', 7)"
    # all-or-nothing: the half-registered plugin and the one for another plugin API left nothing behind
    assert "half" not in models and "future" not in models and "half" not in result(out, "LOGGERS")
    assert result(out, "STORE") == "[]"
    failed = [w for w in warned if "PluginImportWarning" in w]
    assert len(failed) == 2, warned
    assert any("plait-half" in w and "the GPU library is missing" in w and "nothing it registered" in w for w in failed)
    assert any("plait-future" in w and "plugin API 2" in w and "implements 1" in w for w in failed)


def test_the_qualified_key_and_the_builtin_work_from_the_command_line(tmp_path: Path) -> None:
    make_plugins(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("HYDRA_FULL_ERROR", None)
    for choice, name in [
        ("model=plait_textcnn.lstm", "plait_textcnn.lstm"),
        ("model=lstm", "lstm"),
        ("task=sentiment", "transformer_encoder"),
    ]:
        cli = subprocess.run(
            [sys.executable, "-m", "framework.cli", "train", choice, "--cfg", "job"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert f"_name_: {name}\n" in cli.stdout


def test_disable_by_distribution_name_and_the_error_says_so(tmp_path: Path) -> None:
    make_plugins(tmp_path)
    out = run_python(
        """
        from framework.plugins import load_plugins
        from framework.kinds import MODELS
        from framework.errors import UnknownComponentError
        load_plugins()
        print("MODELS", MODELS.names())
        try:
            MODELS.build({"_name_": "plait_textcnn.lstm"})
        except UnknownComponentError as exc:
            print("ERROR", str(exc).replace("\\n", " | "))
        """,
        tmp_path,
        PLAIT_DISABLE_PLUGINS="plait-textcnn, zzz",  # a distribution name and an entry-point name
    )
    assert "textcnn" not in result(out, "MODELS") and "lstm" in result(out, "MODELS")
    assert "PluginClashWarning" not in out.stderr
    error = result(out, "ERROR")
    assert "'textcnn' from distribution 'plait-textcnn' provides it and is disabled by PLAIT_DISABLE_PLUGINS" in error


PRESET_PLUGIN = {
    "plait_presets/__init__.py": '"""Ships presets only."""\nPLAIT_API = 1\n',
    "plait_presets/conf/model/lstm_tiny.yaml": "# a tiny LSTM for smoke tests\ndefaults:\n  - lstm\nd_model: 8\nd_hidden: 8\n",
    "plait_presets/conf/experiment/tiny_lstm.yaml": "# @package _global_\n# tiny LSTM run\ndefaults:\n  - override /model: lstm_tiny\ntrainer:\n  max_steps: 2\n",
}


def test_presets_shipped_by_a_plugin_are_options_everywhere(tmp_path: Path) -> None:
    make_distribution(tmp_path, "plait-presets", "1.0", PRESET_PLUGIN)
    out = run_python(
        """
        from framework.testing import compose
        cfg = compose(["model=lstm_tiny"])
        print("MODEL", cfg.model._name_, cfg.model.d_model)
        cfg = compose(["experiment=tiny_lstm"], quick=False)
        print("EXPERIMENT", cfg.model._name_, cfg.model.d_hidden, cfg.trainer.max_steps)
        """,
        tmp_path,
    )
    assert result(out, "MODEL") == "lstm 8"
    assert result(out, "EXPERIMENT") == "lstm 8 2"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = subprocess.run(
        [sys.executable, "-m", "framework.cli", "list", "model"], env=env, capture_output=True, text=True, timeout=300
    )
    assert "lstm_tiny" in listing.stdout and "plait-presets" in listing.stdout and "a tiny LSTM" in listing.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "framework.cli", "train", "--help"], env=env, capture_output=True, text=True, timeout=300
    )
    assert helped.returncode == 0 and "lstm_tiny" in helped.stdout and "tiny_lstm" in helped.stdout
    described = subprocess.run(
        [sys.executable, "-m", "framework.cli", "describe", "model/lstm_tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert described.returncode == 0, described.stderr
    assert (
        "plait-presets" in described.stdout
        and "d_model: 8" in described.stdout
        and "model.d_hidden" in described.stdout
    )


def test_reopening_names_the_missing_or_changed_provider(tmp_path: Path) -> None:
    make_distribution(
        tmp_path, "plait-textcnn", "0.4.0", {"plait_textcnn.py": CLASHING.replace("{dist}", "plait-textcnn")}
    )
    script = """
        import warnings
        from framework.plugins import check_recorded_providers
        from framework.errors import PlaitError
        recorded = {RECORDED}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                check_recorded_providers(recorded, context="reopening run1")
                print("OK")
            except PlaitError as exc:
                print("ERROR", exc)
        print("WARNINGS", [str(w.message) for w in caught if "plugin versions" in str(w.message)])
    """
    missing = {"plait": "0.1.0", "model/textcnn2": "plait-textcnn2==0.3.1", "optimizer/adamw": "plait==0.1.0"}
    out = run_python(script.replace("{RECORDED}", repr(missing)), tmp_path)
    assert result(out, "ERROR") == (
        "reopening run1: model 'textcnn2' came from plait-textcnn2==0.3.1, which is not installed: "
        "pip install plait-textcnn2==0.3.1"
    )
    other_version = {"model/textcnn": "plait-textcnn==0.3.1", "model/plait_textcnn.lstm": "plait-textcnn==0.3.1"}
    out = run_python(script.replace("{RECORDED}", repr(other_version)), tmp_path)
    assert "OK" in out.stdout
    warned = result(out, "WARNINGS")
    assert warned.count("reopening run1 with other plugin versions") == 1
    assert "model 'textcnn' came from plait-textcnn==0.3.1, 0.4.0 is installed" in warned
    out = run_python(script.replace("{RECORDED}", repr(other_version)), tmp_path, PLAIT_DISABLE_PLUGINS="plait_textcnn")
    assert "is disabled by PLAIT_DISABLE_PLUGINS: remove plait-textcnn from it" in result(out, "ERROR")
