"""A run's provenance for people, read from its JSON files without torch: `plait describe <run>` prints it, and
`plait compare` puts where runs differ (commit, uncommitted changes, versions, machine, environment) beside the
config keys that differ between them, with the parent of a run started by `plait rerun`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from framework.cli.run_files import (
    CONFIG_FILE,
    differing_keys,
    final_metrics,
    flatten,
    load_config,
    metric_rows,
    run_names,
)
from framework.engine.model_summary import SUMMARY_FILE, read_summary, summary_lines
from framework.engine.provenance import DATA_RECORD, PROVENANCE_FILE, read

COMPARED = ("runtime.", "packages.", "env.", "host.hostname", "host.cpu_count", "data")  # shown when they differ
NOT_COMPARED = ("runtime.python_executable",)


def is_run(path: Path) -> bool:
    """True for a run directory: one holding provenance.json or config.yaml."""
    return path.is_dir() and ((path / PROVENANCE_FILE).is_file() or (path / CONFIG_FILE).is_file())


def code_state(section: Any) -> tuple[str, str]:
    """(commit, dirty) of a recorded checkout as a table shows them: a short commit or the note; yes (diff hash)."""
    if not isinstance(section, dict):
        return "-", "-"
    if not section.get("commit"):
        return str(section.get("note") or "-"), "-"
    sha = str(section.get("diff_sha256") or "")
    dirty = ("yes" + (f" ({sha[:8]})" if sha else "")) if section.get("dirty") else "no"
    return str(section["commit"])[:12], dirty


def _checkout(section: Any) -> str:
    """One line for a recorded checkout: root @ commit (branch), and its uncommitted changes."""
    if not isinstance(section, dict) or not section.get("root"):
        return str(section.get("note", "not recorded")) if isinstance(section, dict) else "not recorded"
    where = f"{section['root']} @ {section.get('commit') or section.get('note', '?')}"
    where += f" (branch {section['branch']})" if section.get("branch") else " (no branch)"
    if section.get("dirty") and not section.get("diff"):
        return f"{where}, uncommitted changes (no diff saved: {section.get('note', 'unknown why')})"
    if section.get("dirty"):
        cut = ", cut at 1 MB" if section.get("diff_cut") else ""
        return f"{where}, uncommitted changes in {section.get('diff')} ({section.get('diff_bytes')} bytes{cut})"
    return where + ("" if section.get("dirty") is None else ", clean")


def _text(value: Any) -> str:
    return "none" if value is None else ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _plait(record: dict[str, Any]) -> str:
    """Plait's version and where it was imported from (and its checkout, when that is another repository)."""
    where = f"{record.get('packages', {}).get('plait', '?')} from {record.get('plait_source')}"
    return where + (f"; checkout {_checkout(record['plait_git'])}" if "plait_git" in record else "")


def _data(run_dir: Path, record: dict[str, Any]) -> str:
    path = run_dir / str(record.get("data") or DATA_RECORD)
    if not path.is_file():
        return "not recorded (generated data, or read before Plait recorded data files)"
    splits = json.loads(path.read_text())
    counts = ", ".join(f"{split} {len(files)} file(s)" for split, files in splits.items()) if splits else "no files"
    return f"{path.name}: {counts} (paths, sizes, sha256)"


def describe_lines(run_dir: Path) -> list[tuple[str, str]]:
    """(label, text) lines describing the run in `run_dir`: its provenance and its final metrics."""
    record = read(run_dir)
    cfg = load_config(run_dir)
    metrics = final_metrics(metric_rows(run_dir), cfg.get("objective"))
    lines = [("run", str(run_dir))]
    if record is None:
        lines.append(("provenance", f"not recorded (no {PROVENANCE_FILE}: a run from before Plait recorded it)"))
    else:
        runtime, host = record.get("runtime", {}), record.get("host", {})
        lines += [
            ("created", str(record.get("created"))),
            ("command", shlex.join(record.get("command", []))),
            *([("parent", _parent(record))] if isinstance(record.get("parent"), dict) else []),
            ("cwd", str(record.get("cwd"))),
            ("code", _checkout(record.get("git"))),
            ("plait", _plait(record)),
            ("host", f"{host.get('hostname')} ({host.get('platform')}, {host.get('cpu_count')} CPUs)"),
            ("runtime", ", ".join(f"{k} {_text(v)}" for k, v in runtime.items() if k != "python_executable")),
            ("packages", ", ".join(f"{k} {v}" for k, v in record.get("packages", {}).items())),
            (
                "env",
                " ".join(f"{k}={v}" for k, v in record.get("env", {}).items()) or "(none of the recorded ones set)",
            ),
            ("data", _data(run_dir, record)),
        ]
        for earlier in record.get("earlier", []):  # earlier starts of a resumed run
            commit, dirty = code_state(earlier.get("git"))
            code = commit + (
                f", uncommitted changes in {earlier['git'].get('diff')}" if dirty.startswith("yes") else ""
            )
            lines.append(("earlier", f"{earlier.get('created')} | {code} | {shlex.join(earlier.get('command', []))}"))
    summary = read_summary(run_dir)
    if summary is None:
        lines.append(("model", f"no summary recorded (no {SUMMARY_FILE}: a run from before Plait recorded it)"))
    else:
        lines += [("model" if i == 0 else "", text.strip()) for i, text in enumerate(summary_lines(summary))]
    if metrics:
        lines.append(("metrics", "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())))
    return lines


def print_run(run_dir: Path) -> None:
    """Print `describe_lines` as an aligned two-column listing."""
    for label, text in describe_lines(run_dir):
        print(f"{label:<11}{text}")


def parent_name(record: dict[str, Any], compared: dict[str, str]) -> str:
    """The run a rerun started from: its name among the `compared` runs ({resolved path: name}), else its path."""
    parent = record.get("parent")
    if not isinstance(parent, dict):
        return "-"
    path = str(parent.get("run_dir"))
    return compared.get(str(Path(path).resolve()), path)


def _parent(record: dict[str, Any]) -> str:
    """`<dir> with <overrides>` for describe."""
    parent = record["parent"]
    overrides = " ".join(parent.get("overrides") or []) or "no overrides"
    return f"{parent.get('run_dir')} (plait rerun) with {overrides}"


def _cell(value: Any) -> str:
    return "-" if value is None else value if isinstance(value, str) else json.dumps(value)


def provenance_rows(run_dirs: list[Path]) -> list[dict[str, str]]:
    """One row per run: its commit and dirty flag (and Plait's, when Plait ran from another checkout), every other
    provenance field that differs between the runs, then every config key that does."""
    records = [read(d) or {} for d in run_dirs]
    recorded = [
        {k: v for k, v in flatten(r).items() if k.startswith(COMPARED) and k not in NOT_COMPARED} for r in records
    ]
    configs = [flatten(load_config(d)) for d in run_dirs]
    recorded_keys, config_keys = differing_keys(recorded, shared_only=False), differing_keys(configs)
    with_plait = any("plait_git" in r for r in records)
    names = run_names(run_dirs)
    by_path = {str(d.resolve()): name for d, name in zip(run_dirs, names, strict=True)}
    rows = []
    for name, record, fields, config in zip(names, records, recorded, configs, strict=True):
        commit, dirty = code_state(record.get("git"))
        row = {"run": name, "commit": commit, "dirty": dirty}
        if any("parent" in r for r in records):
            row["parent"] = parent_name(record, by_path)
        if with_plait:
            row["plait commit"], row["plait dirty"] = code_state(record.get("plait_git"))
        row |= {k: _cell(fields.get(k)) for k in recorded_keys}
        rows.append(row | {k: _cell(config.get(k)) for k in config_keys})
    return rows
