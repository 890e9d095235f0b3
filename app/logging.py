"""Log set-up: plain lines for people at a terminal, one JSON object per line in production.

In production every logger (ours, Strawberry's, uvicorn's, SQLAlchemy's) writes through the same
JSON formatter, and each line is bounded: messages, tracebacks and extra fields are cut, and what a
client sent (control characters, lone surrogates) is escaped, never written raw.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from app.config import Settings

DEFAULT_MAX_LINE_CHARS = 4000
FIELD_CHARS = 500  # an extra field's string value (a path, an operation name)


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters (and a note of how many were cut), safe to encode."""
    if len(text) > limit:
        text = f"{text[:limit]}... [{len(text) - limit} more characters]"
    # A lone surrogate from a request cannot be encoded: write its escape instead.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return cut(value, FIELD_CHARS)
    if isinstance(value, dict):
        return {str(k)[:FIELD_CHARS]: _bounded(v) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:50]]
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, max_line_chars: int = DEFAULT_MAX_LINE_CHARS) -> None:
        super().__init__()
        self.max_line_chars = max_line_chars

    def format(self, record: logging.LogRecord) -> str:
        half = self.max_line_chars // 2
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": cut(record.getMessage(), half),
        }
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            payload.update(_bounded(extra))
        if record.exc_info:
            # The end of a traceback says what failed; keep it when cutting.
            text = self.formatException(record.exc_info)
            payload["exc"] = cut(text[-half:] if len(text) > half else text, half)
        line = orjson.dumps(payload, default=str).decode()
        if len(line) <= self.max_line_chars:
            return line
        short = {k: payload[k] for k in ("ts", "level", "logger")}
        short["msg"] = cut(payload["msg"], half // 2)
        short["truncated"] = len(line)
        return orjson.dumps(short).decode()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.is_production:
        handler.setFormatter(JsonFormatter(settings.log_max_line_chars))
        # Every library's records reach the root logger (uvicorn runs with log_config=None in
        # production): one format, one bound, whoever logs.
        top = logging.getLogger()
        top.handlers[:] = [h for h in top.handlers if not getattr(h, "insitechart", False)]
        handler.insitechart = True  # type: ignore[attr-defined]
        top.addHandler(handler)
        # Libraries speak at WARNING and above (httpx alone logs every upstream request at INFO);
        # uvicorn keeps its start-up and access lines at LOG_LEVEL.
        level = logging.getLevelName(settings.log_level.upper())
        top.setLevel(max(level, logging.WARNING))
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers[:] = []
            logging.getLogger(name).propagate = True
            logging.getLogger(name).setLevel(level)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s"))
    root = logging.getLogger("insitechart")
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    root.propagate = False
