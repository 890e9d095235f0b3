"""The GraphQL schema of InsiteChart, built for given settings."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.config import Settings
from schema.budget import CostBudget
from schema.caching import CachePolicy
from schema.compiled import CompiledExecutor
from schema.errors import MaskInternalErrors, process_errors
from schema.execution import Executor
from schema.hooks import ResolvedHooksRunner
from schema.limits import DocumentLimits, StaticLimits
from schema.mutation import Mutation
from schema.query import Query
from schema.release import ReleaseLoaders
from schema.subscription import Subscription
from schema.timing import instrument
from schema.tracing import Tracing
from schema.validation import ValidatedDocuments


class Schema(strawberry.Schema):
    """Strawberry's schema, with InsiteChart's handling of errors (no suggestions in production,
    bounded logs)."""

    production = False

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return ResolvedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        process_errors(errors, self.production)


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = StaticLimits.from_settings(settings)
    extensions: list[Any] = [
        ReleaseLoaders,  # first, so its end runs after every other extension's
        MaskInternalErrors,
        CachePolicy,
        lambda: DocumentLimits(limits),  # parses too (cached), in place of ParserCache
        ValidatedDocuments,  # validation results by document (ValidationCache hashed it)
        lambda: CostBudget(settings),
    ]
    if settings.trace_enabled:
        extensions.insert(2, lambda: Tracing(settings=settings))
    if settings.is_production:
        extensions.append(DisableIntrospection)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=CompiledExecutor if settings.executor_compiled else Executor,
        config=StrawberryConfig(
            auto_camel_case=True, disable_field_suggestions=settings.is_production
        ),
    )
    schema.production = settings.is_production
    if settings.trace_enabled:
        instrument(schema)
    return schema
