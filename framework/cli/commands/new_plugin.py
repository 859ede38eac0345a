"""`plait new-plugin NAME [--kind KIND] [--dir PATH]`: write a ready plugin package `plait-NAME`.

It holds a pyproject with the `plait.plugins` entry point, one component of KIND registered as NAME,
a preset where the kind has options worth presetting, tests on Plait's contract suite for that kind,
and a README. `pip install -e plait-NAME` and `plait train <kind>=NAME` uses it.
"""

from __future__ import annotations

import re
from pathlib import Path

from framework.errors import PlaitError, closest

HELP = (
    "write a new plugin package (pyproject, one component, contract tests, README): plait new-plugin NAME --kind model"
)
USAGE = "plait new-plugin NAME [--kind model|optimizer|scheduler|logger|callback] [--dir PATH]"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse(argv: list[str]) -> tuple[str, str, Path | None]:
    """(name, kind, target directory or None) from the command line."""
    from framework.cli.templates.plugin import KINDS

    name, kind, target = None, "model", None
    args = list(argv)
    while args:
        arg = args.pop(0)
        flag, eq, value = arg.partition("=")
        if flag in ("--kind", "--dir"):
            if not eq:
                if not args:
                    raise PlaitError(f"{flag} needs a value. usage: {USAGE}")
                value = args.pop(0)
            if flag == "--kind":
                kind = value
            else:
                target = Path(value)
        elif arg.startswith("-"):
            raise PlaitError(f"unknown option '{arg}'. usage: {USAGE}")
        elif name is None:
            name = arg
        else:
            raise PlaitError(f"one NAME only, got '{name}' and '{arg}'. usage: {USAGE}")
    if name is None:
        raise PlaitError(f"usage: {USAGE}")
    name = name.removeprefix("plait-").removeprefix("plait_").replace("-", "_")
    if not _NAME.match(name):
        raise PlaitError(f"plugin name '{name}' must be lowercase letters, digits and _ (starting with a letter)")
    if kind not in KINDS:
        near = closest(kind, list(KINDS))
        raise PlaitError(
            f"unknown kind '{kind}'. Kinds: {', '.join(KINDS)}." + (f" Closest match: '{near}'." if near else "")
        )
    return name, kind, target


def write_plugin(name: str, kind: str, target: Path) -> list[Path]:
    """Write the package for component `name` of `kind` into `target` (must not exist); returns the files."""
    from framework.cli.templates import plugin as t

    if target.exists():
        raise PlaitError(f"{target} already exists; choose another NAME or --dir")
    component = t.COMPONENTS[kind]
    module = f"plait_{name}"
    kind_module = kind
    values = {
        "name": name,
        "dist": f"plait-{name.replace('_', '-')}",
        "module": module,
        "key": name,
        "Class": "".join(part.capitalize() for part in name.split("_")) + kind.capitalize(),
        "kind": kind,
        "group": kind,
        "kind_module": kind_module,
        "registry": f"{kind.upper()}S",  # MODELS, LOGGERS, ...
        "suite": component["suite"],
    }
    values["test_body"] = component["test_body"].format(**values)
    values["example_override"] = component["example_override"].format(**values)
    files = {
        "pyproject.toml": t.PYPROJECT,
        "README.md": t.README,
        f"{module}/__init__.py": t.INIT,
        f"{module}/{kind_module}.py": component["source"],
        f"tests/test_{kind}.py": t.TEST,
    }
    if component["preset"]:
        files[f"{module}/conf/{kind}/{name}_preset.yaml"] = component["preset"]
    written = []
    for rel, template in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> None:
    """Write the package and say what to do next."""
    name, kind, target = parse(argv)
    target = target or Path(f"plait-{name.replace('_', '-')}")
    written = write_plugin(name, kind, target)
    print(f"wrote {len(written)} files to {target}/:")
    for path in written:
        print(f"  {path.relative_to(target)}")
    print(
        f"next:\n  pip install -e {target}\n  plait describe {kind}/{name}\n"
        f"  pytest {target}/tests      # Plait's {kind} contract suite"
    )
