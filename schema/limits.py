"""Static limits on a GraphQL document, all checked before anything executes.

Size and tokens are checked while parsing, and field selections (fragments expanded, counted with
multiplicity, in time linear in the document) right after it, before validation spends anything;
depth, aliases, root fields and directives per field by a validation rule (cached with the
document, since none of them depends on variables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    parse,
)
from strawberry.extensions import SchemaExtension

from app.config import Settings
from app.text import utf8_size
from schema import refusals
from schema.prescan import over_token_limit

TOKENS_ABORT = "Document contains more than"


@dataclass(frozen=True, slots=True)
class StaticLimits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_document_bytes: int
    max_root_fields: int
    max_directives_per_field: int
    max_selections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> StaticLimits:
        return cls(
            max_depth=settings.limits_max_depth,
            max_aliases=settings.limits_max_aliases,
            max_tokens=settings.limits_max_tokens,
            max_document_bytes=settings.limits_max_document_bytes,
            max_root_fields=settings.limits_max_root_fields,
            max_directives_per_field=settings.limits_max_directives_per_field,
            max_selections=settings.limits_max_selections,
        )


def limit_error(
    code: str, message: str, limit: int, value: int | None = None, node: Any = None
) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code, "limit": limit}
    if value is not None:
        extensions["value"] = value
    return GraphQLError(message, nodes=node, extensions=extensions)


class DocumentShape:
    """Depth, aliases, selections and root fields of an operation, fragments expanded once each
    (memoised)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self._depth: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._selections: dict[str, int] = {}
        self._open: set[str] = set()  # cycles are reported by NoFragmentCycles; count them as 0

    def _fragment(
        self, name: str, memo: dict[str, int], measure: Callable[[SelectionSetNode], int]
    ) -> int:
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            memo[name] = measure(fragment.selection_set)
        finally:
            self._open.discard(name)
        return memo[name]

    def depth(self, selection_set: SelectionSetNode) -> int:
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in ("__schema", "__type"):
                    continue  # introspection is bounded by the tokens limit and off in production
                below = self.depth(selection.selection_set) if selection.selection_set else 0
                deepest = max(deepest, 1 + below)
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                deepest = max(deepest, self._fragment(name, self._depth, self.depth))
        return deepest

    def aliases(self, selection_set: SelectionSetNode) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += selection.alias is not None
                if selection.selection_set:
                    total += self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self._aliases, self.aliases)
        return total

    def selections(self, selection_set: SelectionSetNode) -> int:
        """Field selections as executed before merging: a fragment spread twice counts twice."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += 1
                if selection.selection_set:
                    total += self.selections(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, self._selections, self.selections)
        return total

    def root_fields(
        self, selection_set: SelectionSetNode, seen: frozenset[str] = frozenset()
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += selection.name.value != "__typename"
            elif isinstance(selection, InlineFragmentNode):
                total += self.root_fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in seen:
                    total += self.root_fields(fragment.selection_set, seen | {fragment.name.value})
        return total


def shape_rule(limits: StaticLimits) -> type[ASTValidationRule]:
    """A validation rule refusing operations over the depth, alias, root-field, directive limits."""

    class ShapeLimits(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = {
                d.name.value: d
                for d in context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            self.shape = DocumentShape(fragments)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            for error in self._check(node):
                self.report_error(error)

        def _check(self, node: OperationDefinitionNode) -> Iterator[GraphQLError]:
            selection = node.selection_set
            checks = (
                (
                    "MAX_DEPTH_EXCEEDED",
                    "query depth {} exceeds",
                    self.shape.depth,
                    limits.max_depth,
                ),
                (
                    "MAX_ALIASES_EXCEEDED",
                    "{} aliases exceed",
                    self.shape.aliases,
                    limits.max_aliases,
                ),
                (
                    "MAX_ROOT_FIELDS_EXCEEDED",
                    "{} root fields exceed",
                    self.shape.root_fields,
                    limits.max_root_fields,
                ),
            )
            for code, found, measure, limit in checks:
                value = measure(selection)
                if value > limit:
                    message = f"{found.format(value)} the limit of {limit}"
                    yield limit_error(code, message, limit, value, node)

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            count = len(node.directives or ())
            if count > limits.max_directives_per_field:
                self.report_error(
                    limit_error(
                        "MAX_DIRECTIVES_EXCEEDED",
                        f"field '{node.name.value}' has {count} directives; the limit is "
                        f"{limits.max_directives_per_field}",
                        limits.max_directives_per_field,
                        count,
                        node,
                    )
                )

    return ShapeLimits


def parse_document(query: str, max_tokens: int, max_selections: int | None = None) -> DocumentNode:
    """Parse with a token cap; a document over it is refused with MAX_TOKENS_EXCEEDED, and one
    whose operations select more than `max_selections` fields with MAX_SELECTIONS_EXCEEDED.

    Documents are cached, and so are refusals: an attacker repeating a refused document costs a
    dictionary look-up, not another parse.
    """
    key = (query, max_tokens, max_selections)
    refused = refusals.recall(key)
    if refused is not None:
        message, extensions = refused
        raise GraphQLError(message, extensions=extensions)
    try:
        return _parse_document(query, max_tokens, max_selections)
    except GraphQLSyntaxError:
        raise
    except GraphQLError as exc:
        refusals.remember(key, exc.message, exc.extensions)
        raise


@lru_cache(maxsize=512)
def _parse_document(query: str, max_tokens: int, max_selections: int | None) -> DocumentNode:
    found = over_token_limit(query, max_tokens)
    if found is not None:
        raise _too_many_tokens(max_tokens)
    try:
        document = parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except GraphQLSyntaxError as exc:
        if TOKENS_ABORT in exc.message:
            raise _too_many_tokens(max_tokens) from None
        raise
    if max_selections is not None:
        check_selections(document, max_selections)
    return document


def _too_many_tokens(max_tokens: int) -> GraphQLError:
    return limit_error(
        "MAX_TOKENS_EXCEEDED", f"the document has more than {max_tokens} tokens", max_tokens
    )


def check_selections(document: DocumentNode, limit: int) -> None:
    """Refuse a document whose operations select more fields than `limit`, fragments expanded."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    shape = DocumentShape(fragments)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        count = shape.selections(definition.selection_set)
        if count > limit:
            raise limit_error(
                "MAX_SELECTIONS_EXCEEDED",
                f"the operation selects {count} fields (fragments expanded); the limit is {limit}",
                limit,
                count,
                definition,
            )


class DocumentLimits(SchemaExtension):
    """Refuse oversized documents before parsing; parse (cached) under the token cap."""

    def __init__(self, limits: StaticLimits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = (
            *self.execution_context.validation_rules,
            shape_rule_for(self.limits),
        )
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query is not None:
            size = utf8_size(context.query)  # a lone surrogate must not raise here
            if size > self.limits.max_document_bytes:
                raise limit_error(
                    "DOCUMENT_TOO_LARGE",
                    f"the document is {size} bytes; the limit is {self.limits.max_document_bytes}",
                    self.limits.max_document_bytes,
                    size,
                )
            try:
                context.graphql_document = parse_document(
                    context.query, self.limits.max_tokens, self.limits.max_selections
                )
            except GraphQLSyntaxError:
                pass  # Strawberry parses again and reports the syntax error its usual way
        yield


@lru_cache(maxsize=16)
def shape_rule_for(limits: StaticLimits) -> type[ASTValidationRule]:
    # One class per set of limits, so the validation cache (keyed by the rules) keeps hitting.
    return shape_rule(limits)
