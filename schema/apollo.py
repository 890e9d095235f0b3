"""Apollo tracing (version 1) from the tracing extension's timings, plus loader batches and SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql.pyutils import Path

from app.monitoring.collector import RequestTrace

APOLLO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
NO_PHASE = {"startOffset": 0, "duration": 0}


@dataclass(slots=True)
class ResolverTiming:
    path: Path
    parent_type: str
    field_name: str
    return_type: Any  # the GraphQL output type, turned into text only when tracing is returned
    start_ns: int
    duration_ns: int


def path_of(path: Path | None) -> list[str | int]:
    keys: list[str | int] = []
    while path is not None:
        keys.append(path.key)
        path = path.prev
    return keys[::-1]


def apollo_tracing(
    start_time: datetime,
    end_time: datetime,
    duration_ns: int,
    phases: dict[str, tuple[int, int]],
    resolvers: list[ResolverTiming],
    trace: RequestTrace,
) -> dict[str, Any]:
    """Offsets are from the operation's start; all times in nanoseconds, as in Apollo's format."""
    origin = trace.start_ns

    def phase(name: str) -> dict[str, int]:
        if name not in phases:
            return NO_PHASE
        start, duration = phases[name]
        return {"startOffset": start - origin, "duration": duration}

    return {
        "version": 1,
        "startTime": start_time.strftime(APOLLO_TIME),
        "endTime": end_time.strftime(APOLLO_TIME),
        "duration": duration_ns,
        "parsing": phase("parsing"),
        "validation": phase("validation"),
        "execution": {
            "resolvers": [
                {
                    "path": path_of(r.path),
                    "parentType": r.parent_type,
                    "fieldName": r.field_name,
                    "returnType": str(r.return_type),
                    "startOffset": r.start_ns - origin,
                    "duration": r.duration_ns,
                }
                for r in resolvers
            ],
            "loaderBatches": [
                {
                    "loader": b.loader,
                    "keys": b.keys,
                    "startOffset": b.start_ns - origin,
                    "duration": b.duration_ns,
                }
                for b in trace.batches
            ],
        },
        "sql": {"statements": trace.sql_count, "duration": trace.sql_ns},
    }
