"""Validation results kept by document, found by the document's identity, not its hash.

Strawberry's ValidationCache keys an `lru_cache` by (schema, document, rules). graphql-core 3.3's
AST nodes are frozen dataclasses with no cached hash, so every request hashed its whole document
again (a StockDetail's 60 nodes and 90 locations) to find an entry. Documents come from the parse
cache (schema/limits.py), one object per query text while it is cached: here the entry is found
by that object's identity, and holds the object, so the identity cannot be reused while the entry
lives. A document parsed again (evicted, then sent again) is validated again, once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

Entry = tuple[DocumentNode, GraphQLSchema, list[GraphQLError]]  # the key's objects, held


class ValidatedDocuments(SchemaExtension):
    maxsize: ClassVar[int] = 512
    # Shared by every request (the extension is made per request) and the WebSocket admission.
    _entries: ClassVar[OrderedDict[tuple[int, int, tuple[Any, ...]], Entry]] = OrderedDict()

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        assert document is not None  # validation runs on a parsed document
        rules = tuple(execution.validation_rules)
        execution.pre_execution_errors = self.validate(execution.schema._schema, document, rules)
        yield

    @classmethod
    def validate(
        cls, schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...]
    ) -> list[GraphQLError]:
        """Strawberry's `validate_document`, its result kept (the same list for the same
        document, schema and rules): also what a subscription's admission checks."""
        key = (id(document), id(schema), rules)
        entries = cls._entries
        entry = entries.get(key)
        if entry is not None and entry[0] is document and entry[1] is schema:
            entries.move_to_end(key)
            return entry[2]
        errors = validate_document(schema, document, rules)
        for error in errors:
            _forget_frames(error)
        entries[key] = (document, schema, errors)
        while len(entries) > cls.maxsize:
            entries.popitem(last=False)
        return errors


def _forget_frames(error: BaseException) -> None:
    """Drop the tracebacks an error carries (a value that failed to coerce while validating is
    an `original_error` raised inside the validator): they hold the frames of the request that
    first validated the document, its context and loaders, which the kept errors would keep
    alive for as long as the entry lives."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        original = getattr(current, "original_error", None)
        pending += [original, current.__cause__, current.__context__]
