"""The GraphQL schema of InsiteChart, built for given settings."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from schema.errors import MaskInternalErrors
from schema.query import Query
from schema.timing import instrument
from schema.tracing import Tracing


def build_schema(settings: Settings) -> strawberry.Schema:
    tracing = [lambda: Tracing(settings=settings)] if settings.trace_enabled else []
    schema = strawberry.Schema(
        query=Query,
        extensions=[
            MaskInternalErrors,
            *tracing,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        config=StrawberryConfig(auto_camel_case=True),
    )
    if settings.trace_enabled:
        instrument(schema)
    return schema
