"""The GraphQL schema of InsiteChart, built for given settings."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from schema.errors import MaskInternalErrors
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            MaskInternalErrors,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
        config=StrawberryConfig(auto_camel_case=True),
    )
