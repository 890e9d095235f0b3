"""OpenTelemetry: the operation's span parents its loader batches, which parent their SQL."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.monitoring.otel import make_tracer
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe


def test_no_tracer_unless_asked_for() -> None:
    assert make_tracer(False) is None
    assert make_tracer(True) is not None


async def test_operation_loader_and_sql_spans_nest(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 3, 2)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings.model_copy(update={"trace_otel": True}))
    async with serve(app) as client:
        # The app's tracer comes from the global provider; this test's provider is its own.
        app.state.resources.monitor.tracer = provider.get_tracer("test")
        body = await graphql(client, operations["MentionFeed"])
    assert "errors" not in body, body
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}

    def parent(span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, span.name
        return by_id[span.parent.span_id]

    [operation] = [s for s in spans if s.name == "graphql MentionFeed"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "MentionFeed"
    loaders = [s for s in spans if s.name.startswith("loader ")]
    assert sorted(s.name for s in loaders) == [
        "loader MentionPageLoader",
        "loader SentimentByStockLoader",
        "loader StockPageLoader",
    ]
    assert all(parent(s) is operation for s in loaders)
    sql = [s for s in spans if s.name == "sql"]
    assert len(sql) == 3
    assert sorted(parent(s).name for s in sql) == sorted(s.name for s in loaders)
    mention_page = next(s for s in loaders if s.name == "loader MentionPageLoader")
    assert mention_page.attributes is not None and mention_page.attributes["keys"] == 3
