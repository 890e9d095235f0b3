"""Render docs/CONFIGURATION.md from the settings model (`python -m app.configdoc`)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from app.config import Settings

# (title, where the details are, name prefixes); a setting goes to the first group it matches.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Server",
        "docs/CLI.md",
        ("app_env", "host", "port", "workers", "log_level", "graphiql", "compress_"),
    ),
    ("Database", "docs/CLI.md", ("database_url", "db_", "statement_timeout_ms")),
    ("Redis and caching", "docs/CACHING.md", ("redis_", "cache_")),
    ("Limits, cost and budgets", "docs/LIMITS.md", ("limits_", "cost_", "budget_")),
    ("Ingestion", "docs/INGEST.md", ("ingest_",)),
    ("Live updates", "docs/REALTIME.md", ("realtime_",)),
    ("Observability", "docs/OBSERVABILITY.md", ("trace_", "metrics_", "prometheus_", "alert_")),
    ("Market quotes", "docs/QUOTES.md", ("quotes_",)),
    ("Runtime and memory", "docs/OBSERVABILITY.md", ("gc_", "memory_")),
)
OTHER = ("Other", "README.md", ())

HEADER = """# Configuration

Settings come from the environment, or from a `.env` file in the directory the command runs
in; names are case-insensitive. A bad value stops every `insitechart` command with one line
naming the variable (exit code 3). Benchmark-only variables (`BENCH_*`) are in
[BENCHMARKS.md](BENCHMARKS.md).

Generated from the descriptions in `app/config.py`; a test fails when the two differ. After
changing a setting: `.venv/bin/python -m app.configdoc > docs/CONFIGURATION.md`.
"""


def group_of(name: str) -> tuple[str, str, tuple[str, ...]]:
    for group in GROUPS:
        if any(name == p or (p.endswith("_") and name.startswith(p)) for p in group[2]):
            return group
    return OTHER


def shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return str(value)


def _bounds(field: FieldInfo) -> str:
    low = high = ""
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f">= {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"<= {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
    if low.startswith(">=") and high.startswith("<="):
        return f"{low[3:]}..{high[3:]}"
    return ", ".join(b for b in (low, high) if b)


def allowed(field: FieldInfo) -> str:
    """What a value may be: the choices, the type and its bounds."""
    annotation: Any = field.annotation
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        text = ", ".join(str(a) for a in typing.get_args(annotation))
    elif annotation is bool:
        text = "true, false"
    elif annotation in (int, float):
        text = f"{'integer' if annotation is int else 'number'} {_bounds(field)}".strip()
    elif annotation is SecretStr:
        text = "string (secret)"
    elif typing.get_origin(annotation) is dict:
        text = "JSON object"
    elif typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        choices = typing.get_args(item) if typing.get_origin(item) is Literal else ()
        text = "comma-separated list" + (f" of {', '.join(choices)}" if choices else "")
    else:
        patterns = [m.pattern for m in field.metadata if hasattr(m, "pattern")]
        lengths = [m.max_length for m in field.metadata if hasattr(m, "max_length")]
        text = "string" + (f" matching `{patterns[0]}`" if patterns else "")
        text += f", at most {lengths[0]} characters" if lengths else ""
    return f"{text}, or unset" if optional else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The whole of docs/CONFIGURATION.md."""
    grouped: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        title, doc, _ = group_of(name)
        where[title] = doc
        grouped.setdefault(title, []).append(
            f"| `{name.upper()}` | `{_cell(shown_default(field))}` | {_cell(allowed(field))} "
            f"| {_cell(field.description or '')} |"
        )
    parts = [HEADER]
    for title, doc, _ in (*GROUPS, OTHER):
        rows = grouped.get(title)
        if not rows:
            continue
        link = doc.removeprefix("docs/") if doc.startswith("docs/") else f"../{doc}"
        parts.append(f"## {title}\n\nDetails: [{doc}]({link}).\n")
        parts.append(
            "| variable | default | allowed | meaning |\n|---|---|---|---|\n" + "\n".join(rows)
        )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
