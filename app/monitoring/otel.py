"""Optional OpenTelemetry: a tracer when the `otel` extra is installed and TRACE_OTEL is on.

Spans go to the process's global TracerProvider, which the operator configures (for example by
running under `opentelemetry-instrument` with an OTLP exporter). Nothing here is imported unless
tracing is asked for, so the API runs without the package.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("insitechart.otel")

Tracer = Any  # opentelemetry.trace.Tracer, kept untyped so the extra stays optional


def make_tracer(enabled: bool) -> Tracer | None:
    if not enabled:
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        log.warning(
            "TRACE_OTEL is on but OpenTelemetry is missing: pip install 'insitechart[otel]'"
        )
        return None
    return trace.get_tracer("insitechart")


@contextmanager
def span(tracer: Tracer | None, name: str, **attributes: Any) -> Iterator[Any]:
    """A current span under `tracer`, or nothing at all without one."""
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current
