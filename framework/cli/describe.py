"""`plait list` and `plait describe`: what is registered, who provides it, and what options it takes.

A component's dataclass is its documentation: field comments in the source become the help text.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import io
import tokenize
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.engine.adapter_config import GROUP as ADAPTER_GROUP
from framework.engine.adapter_config import adapter_schema
from framework.errors import PlaitError, closest
from framework.kinds import REGISTRIES, registry_for
from framework.plugins import discover_plugins, installed_version, preset_source, presets
from framework.registry import Registry
from framework.schema import NAME_FIELD

if TYPE_CHECKING:
    from rich.console import Console


def first_line(doc: str) -> str:
    """First line of a docstring, or ''."""
    return doc.splitlines()[0] if doc else ""


def field_comments(cls: type) -> dict[str, str]:
    """`name: type = default  # comment` -> {name: comment}, read from the dataclass source."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        last_name = None
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME and tok.start[1] == 4 and last_name is None:
                last_name = (tok.string, tok.start[0])
            elif tok.type == tokenize.COMMENT and last_name and tok.start[0] == last_name[1]:
                comments[last_name[0]] = tok.string.lstrip("# ").strip()
            if tok.type == tokenize.NEWLINE:
                last_name = None
    return comments


def make_console(stderr: bool = False) -> Console:
    """A rich console; wide enough when output goes to a file or pipe so tables do not wrap mid-word."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def preset_summary(path: Path) -> str:
    """A preset's description: its first comment line after any `# @package` directive, and what it starts from."""
    lines = path.read_text(encoding="utf-8").splitlines()
    comment = next((ln.lstrip("# ").strip() for ln in lines if ln.startswith("#") and "@package" not in ln), "")
    return f"preset: {comment}" if comment else "preset"


def print_list(kind: str | None = None) -> None:
    """Print every registered component and preset (or those of one kind) with its provider."""
    from rich.markup import escape
    from rich.table import Table

    discover_plugins()
    groups = {p[0] for p in presets()}
    if kind and kind not in REGISTRIES and kind in groups:
        kinds = [kind]
    else:
        kinds = [registry_for(kind).kind] if kind else [*REGISTRIES, *sorted(groups - set(REGISTRIES))]
    table = Table(title="plait components", show_lines=False)
    for column in ("kind", "name", "provider", "description"):
        table.add_column(column)
    found = presets()
    for k in kinds:
        rows = []
        if k in REGISTRIES:
            registry = REGISTRIES[k]
            for name in registry.names():
                info = registry.source(name)
                rows.append((name, f"{info.distribution} {info.version}", first_line(registry.description(name))))
        for (group, name), (dist, path) in found.items():
            if group == k:
                rows.append((name, f"{dist} {installed_version(dist) or ''}".strip(), preset_summary(path)))
        for row in sorted(rows):
            table.add_row(k, *(escape(cell) for cell in row))
    make_console().print(table)
    for b in Registry.broken:
        make_console(stderr=True).print(
            f"[yellow]broken plugin[/] {escape(b.entry_point)} ({escape(b.distribution)}): {escape(b.error)}"
        )
    for d in Registry.disabled:
        make_console(stderr=True).print(
            f"[yellow]disabled plugin[/] {escape(d.entry_point)} ({escape(d.distribution)}) by PLAIT_DISABLE_PLUGINS"
        )


def _type_name(tp: Any) -> str:
    """`Optional[str]` -> `str | null`, `list[str]` -> `list[str]`, `int` -> `int`."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" | null" if type(None) in args else "")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # a closed choice: its values
        return " | ".join(str(m.value) for m in tp)
    if args:
        return f"{getattr(typing.get_origin(tp), '__name__', tp)}[{', '.join(_type_name(a) for a in args)}]"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _default(f: dataclasses.Field[Any]) -> str:
    if isinstance(f.default, enum.Enum):
        return repr(f.default.value)
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if callable(f.default_factory):  # else MISSING
        return repr(f.default_factory())
    return "(required)"


def print_describe(target: str) -> None:
    """Print a component's fields, types, defaults and docs; `target` is `<kind>/<name>`."""
    from rich.markup import escape

    discover_plugins()
    if "/" not in target:
        raise PlaitError(f"describe takes <kind>/<name>, got '{target}'. Kinds: {', '.join(REGISTRIES)}.")
    kind, name = target.split("/", 1)
    source = preset_source(kind, name)
    if source is not None and (kind not in REGISTRIES or name not in REGISTRIES[kind]):
        print_preset(kind, name, *source)
        return
    if kind == ADAPTER_GROUP:  # a config group of the core, not a kind of component
        print_adapter(name)
        return
    registry = registry_for(kind)
    config_cls = registry.config_class(name)
    info = registry.source(name)
    console = make_console()
    console.print(f"[bold]{kind}/{name}[/]  provided by {info.distribution} {info.version} ({info.module})")
    for doc in (registry.description(name), inspect.getdoc(config_cls)):
        if doc:
            console.print(escape(doc))  # `pip install 'plait[mlflow]'` is not rich markup
    here = registry.describe_here(name)  # optional: what the component does on this machine
    if here:
        console.print(here)
    prefix = f"{kind}.{name}" if registry.multi else kind  # several loggers at once: logger.<name>.<field>
    print_fields(console, config_cls, prefix)
    console.print(f"Select it with `plait train {kind}={name}`; set an option with `{prefix}.<option>=<value>`.")


def print_fields(console: Any, config_cls: type, prefix: str) -> None:
    """A table of a schema's options: full key, type, default and the comment beside each field."""
    from rich.markup import escape
    from rich.table import Table

    comments = field_comments(config_cls)
    table = Table(show_lines=False)
    for column in ("option", "type", "default", "meaning"):
        table.add_column(column)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name == NAME_FIELD:
            continue
        cells = (f"{prefix}.{f.name}", _type_name(hints[f.name]), _default(f), comments.get(f.name, ""))
        table.add_row(*(escape(cell) for cell in cells))  # `list[int]` is not rich markup
    console.print(table)


def print_adapter(name: str) -> None:
    """Describe an option of the `adapter` group (`adapter/lora`, `adapter/none`): what it does and its fields."""
    from rich.markup import escape

    config_cls = adapter_schema(name)
    console = make_console()
    console.print(f"[bold]adapter/{name}[/]  provided by plait (framework/engine/adapter.py)")
    console.print(escape(inspect.getdoc(config_cls) or ""))
    print_fields(console, config_cls, ADAPTER_GROUP)
    console.print(f"Select it with `plait train adapter={name}`; set an option with `adapter.<option>=<value>`.")


def print_preset(group: str, name: str, distribution: str, path: Path) -> None:
    """Describe a YAML preset: who ships it, its file and content, then the component it starts from."""
    from omegaconf import DictConfig, OmegaConf
    from rich.markup import escape

    console = make_console()
    console.print(f"[bold]{group}/{name}[/]  preset provided by {escape(distribution)} ({escape(str(path))})")
    text = path.read_text(encoding="utf-8")
    console.print(escape(text.rstrip()))
    base = None
    try:
        node = OmegaConf.create(text)
        defaults = (node.get("defaults") if isinstance(node, DictConfig) else None) or []
        base = next((d for d in defaults if isinstance(d, str) and d != "_self_"), None)
    except Exception:  # a preset Hydra can read but OmegaConf alone cannot: show the text only
        base = None
    if group in REGISTRIES and base and base in REGISTRIES[group]:
        console.print(f"\nIt starts from {group}/{base}; its options:")
        print_describe(f"{group}/{base}")
    else:
        console.print(f"Select it with `plait train {group}={name}`.")


__all__ = ["closest", "print_describe", "print_list", "print_preset"]
