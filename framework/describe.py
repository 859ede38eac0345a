"""`plait list` and `plait describe`: what is registered, who provides it, and what options it takes.

A component's dataclass is its documentation: field comments in the source become the help text.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import types
import typing
from typing import Any

from framework.plugins import load_plugins
from framework.registry import NAME_FIELD, REGISTRIES, PlaitError, closest, registry_for


def first_line(obj: Any) -> str:
    """First line of an object's docstring, or ''."""
    doc = inspect.getdoc(obj) or ""
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


def make_console(stderr: bool = False):
    """A rich console; wide enough when output goes to a file or pipe so tables do not wrap mid-word."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, width=None if stream.isatty() else 160)


def print_list(kind: str | None = None) -> None:
    """Print every registered component (or those of one kind) with its provider."""
    from rich.table import Table

    load_plugins()
    kinds = [registry_for(kind).kind] if kind else list(REGISTRIES)
    table = Table(title="plait components", show_lines=False)
    for column in ("kind", "name", "provider", "description"):
        table.add_column(column)
    for k in kinds:
        registry = REGISTRIES[k]
        for name in registry.names():
            info = registry.source(name)
            table.add_row(k, name, f"{info.distribution} {info.version}", first_line(registry.factory(name)))
    make_console().print(table)
    broken = REGISTRIES["model"].broken
    for b in broken:
        make_console(stderr=True).print(f"[yellow]broken plugin[/] {b.entry_point} ({b.distribution}): {b.error}")


def _type_name(tp: Any) -> str:
    """`Optional[str]` -> `str | null`, `list[str]` -> `list[str]`, `int` -> `int`."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" | null" if type(None) in args else "")
    if args:
        return f"{getattr(typing.get_origin(tp), '__name__', tp)}[{', '.join(_type_name(a) for a in args)}]"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return repr(f.default_factory())
    return "(required)"


def print_describe(target: str) -> None:
    """Print a component's fields, types, defaults and docs; `target` is `<kind>/<name>`."""
    from rich.table import Table

    load_plugins()
    if "/" not in target:
        raise PlaitError(f"describe takes <kind>/<name>, got '{target}'. Kinds: {', '.join(REGISTRIES)}.")
    kind, name = target.split("/", 1)
    registry = registry_for(kind)
    config_cls = registry.config_class(name)
    info = registry.source(name)
    factory = registry.factory(name)
    console = make_console()
    console.print(f"[bold]{kind}/{name}[/]  provided by {info.distribution} {info.version} ({info.module})")
    for doc in (inspect.getdoc(factory), inspect.getdoc(config_cls)):
        if doc:
            console.print(doc)
    here = getattr(factory, "describe_here", None)  # optional: what the component does on this machine
    if callable(here):
        console.print(here())
    comments = field_comments(config_cls)
    table = Table(show_lines=False)
    for column in ("option", "type", "default", "meaning"):
        table.add_column(column)
    hints = typing.get_type_hints(config_cls)
    prefix = f"{kind}.{name}" if registry.multi else kind  # several loggers at once: logger.<name>.<field>
    for f in dataclasses.fields(config_cls):
        if f.name == NAME_FIELD:
            continue
        table.add_row(f"{prefix}.{f.name}", _type_name(hints[f.name]), _default(f), comments.get(f.name, ""))
    console.print(table)
    console.print(f"Select it with `plait train {kind}={name}`; set an option with `{prefix}.<option>=<value>`.")


__all__ = ["closest", "print_describe", "print_list"]
