"""Strings a client sends: what no layer below may receive (lone surrogates, NUL)."""

from __future__ import annotations

from typing import Any


def has_lone_surrogate(text: str) -> bool:
    """True when `text` cannot be encoded as UTF-8 (a lone surrogate such as "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unencodable_path(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) in JSON `value` holding a lone surrogate."""
    pending: list[tuple[Any, str]] = [(value, path)]  # a stack, not recursion: JSON may nest deep
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return where
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                if isinstance(key, str) and has_lone_surrogate(key):
                    return where
                pending.append((inner, f"{where}.{key}"))
        elif isinstance(item, list):
            pending.extend((inner, f"{where}[{i}]") for i, inner in reversed(list(enumerate(item))))
    return None


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8, counting a lone surrogate as the 3 bytes it would take."""
    return len(text.encode("utf-8", "surrogatepass"))
