"""Scopes an operation needs, read from the fields it selects, so FORBIDDEN comes before execution.

A field declares its scope beside itself: `strawberry.field(metadata={"scope": "admin"})`. A root
mutation field that declares none needs `ingest`: anonymous clients (scope `read`) never write.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from graphql import GraphQLField, GraphQLNamedType, OperationDefinitionNode, SelectionSetNode

from schema.cost import DEFINITION_BACKREF, CostAnalysis, field_cost

DEFAULT_MUTATION_SCOPE = "ingest"


def declared_scope(field: GraphQLField) -> str | None:
    definition = (field.extensions or {}).get(DEFINITION_BACKREF)
    metadata = getattr(definition, "metadata", None) or {}
    scope = metadata.get("scope")
    return scope if isinstance(scope, str) else None


def required_scopes(
    analysis: CostAnalysis, operation: OperationDefinitionNode
) -> Iterator[tuple[str, str]]:
    """(field name, scope) for every selected field that needs a scope, each field node once."""
    root = analysis.root_type(operation)
    if root is None:
        return
    default = DEFAULT_MUTATION_SCOPE if root is analysis.schema.mutation_type else None
    yield from _walk(analysis, operation.selection_set, root, default, set())


def _walk(
    analysis: CostAnalysis,
    selection_set: SelectionSetNode,
    parent: GraphQLNamedType,
    default: str | None,
    visited: set[tuple[int, str]],
) -> Iterator[tuple[str, str]]:
    key = (id(selection_set), parent.name)
    if key in visited:
        return  # a fragment spread again asks for nothing new
    visited.add(key)
    for node, field, _ in analysis.selected(selection_set, parent):
        scope = declared_scope(field) or default
        if scope is not None:
            yield node.name.value, scope
        if node.selection_set is not None:
            yield from _walk(analysis, node.selection_set, field_cost(field).named, None, visited)


def first_missing(
    analysis: CostAnalysis, operation: OperationDefinitionNode, granted: frozenset[str]
) -> tuple[str, str] | None:
    """The first selected field whose scope is not granted; the fields that need one are worked
    out once per operation of a document (kept by its analysis, which lives as long)."""
    per_operation = _NEEDED.get(analysis)
    if per_operation is None:
        per_operation = _NEEDED[analysis] = {}
    needed = per_operation.get(id(operation))
    if needed is None or needed[0] is not operation:
        needed = per_operation[id(operation)] = (
            operation,
            tuple(dict.fromkeys(required_scopes(analysis, operation))),
        )
    return next(((f, s) for f, s in needed[1] if s not in granted), None)


# The (field, scope) pairs each operation of a document needs, by operation node, kept as long as
# the document's analysis (schema/budget.py, `analysis_for`, keeps it while the document is).
_NEEDED: weakref.WeakKeyDictionary[
    CostAnalysis, dict[int, tuple[OperationDefinitionNode, tuple[tuple[str, str], ...]]]
] = weakref.WeakKeyDictionary()
