"""Which operations may be shared by the response cache, and for how long (Apollo's rule).

An operation is public when every object type it selects is listed here; its TTL is the
smallest TTL among them. Anything else (API-key callers, admin fields, mutations) is private.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)
from strawberry.extensions import SchemaExtension

from app.http.response_cache import OPERATION_STATE_KEY, POLICY_STATE_KEY, TAGS_STATE_KEY
from loaders.rows import MentionRow, PointRow, SentimentRow, StockRow, TrendingRow
from schema.context import Context

# Object types that carry data, with the TTL of the rows they are built from.
PUBLIC_TYPES: dict[str, float] = {
    "Stock": StockRow.cache_ttl_s,
    "Sentiment": SentimentRow.cache_ttl_s,
    "SentimentPoint": PointRow.cache_ttl_s,
    "Mention": MentionRow.cache_ttl_s,
    "TrendingStock": TrendingRow.cache_ttl_s,
    # Quotes are the same for everyone; their TTL is the provider cache's (QUOTES_CACHE_TTL_S),
    # filled in per request by CachePolicy, so a shared response never outlives the quote in it.
    "Quote": 60.0,
}
# Object types that only shape a result (pages, edges): public, no TTL of their own.
STRUCTURAL_TYPES = frozenset(
    {"Query", "PageInfo", "StockConnection", "StockEdge", "MentionConnection", "MentionEdge"}
)
# The settings' override names for the public types (CACHE_TTL_OVERRIDES_S).
OVERRIDE_NAMES = {"TrendingStock": "trending"}


class _Types(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.names: set[str] = set()

    def enter_field(self, *_: Any) -> None:
        field_type = self.type_info.get_type()
        if field_type is not None:
            named = get_named_type(field_type)
            if isinstance(named, GraphQLObjectType):
                self.names.add(named.name)


SELECTED_TYPES_CACHE = 512  # documents whose types are remembered per schema


def selected_types(schema: GraphQLSchema, document: DocumentNode) -> frozenset[str]:
    """The object types an operation's fields return (the root included).

    Worked out once per document text and kept on the schema (as the cost facts are kept on its
    fields), so a repeated operation does not walk its document again on every request.
    """
    text = document.loc.source.body if document.loc is not None else None
    cache: dict[str, frozenset[str]] = schema.__dict__.setdefault("_insitechart_types", {})
    if text is not None and text in cache:
        return cache[text]
    type_info = TypeInfo(schema)
    collector = _Types(type_info)
    visit(document, TypeInfoVisitor(type_info, collector))
    names = frozenset(collector.names | {"Query"})
    if text is not None:
        if len(cache) >= SELECTED_TYPES_CACHE:
            cache.clear()
        cache[text] = names
    return names


def _operations(document: DocumentNode) -> Iterator[OperationDefinitionNode]:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            yield definition


def shared_ttl(
    schema: GraphQLSchema, document: DocumentNode, overrides: dict[str, float]
) -> float | None:
    """The TTL under which anyone may be sent this operation's result; None if private."""
    if any(op.operation is not OperationType.QUERY for op in _operations(document)):
        return None
    ttls = []
    for name in selected_types(schema, document):
        if name in STRUCTURAL_TYPES:
            continue
        if name not in PUBLIC_TYPES:
            return None
        ttls.append(overrides.get(OVERRIDE_NAMES.get(name, name), PUBLIC_TYPES[name]))
    return min(ttls) if ttls else None


class CachePolicy(SchemaExtension):
    """Tell the response cache (app/http/response_cache.py) if, and how long, it may share a result.

    The verdict goes in the request's state; the middleware reads it once the response is done,
    with the cache tags (and their generations) the loaders read while executing.
    """

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        if isinstance(context, Context) and context.request is not None and document is not None:
            ttl = None
            if context.principal.is_anonymous:
                settings = context.resources.settings
                overrides = {
                    "Quote": settings.quotes_cache_ttl_s,
                    **settings.cache_ttl_overrides_s,
                }
                ttl = shared_ttl(execution.schema._schema, document, overrides)
            setattr(context.request.state, POLICY_STATE_KEY, ttl)
            setattr(context.request.state, OPERATION_STATE_KEY, execution.operation_name)
            setattr(context.request.state, TAGS_STATE_KEY, None)
        yield
        if isinstance(context, Context) and context.request is not None:
            # Only a completed execution says what it read: without this, nothing is stored.
            setattr(context.request.state, TAGS_STATE_KEY, dict(context.loaders.env.tags))
