"""Strawberry's graphql-core executor, freed by refcounting once its operation is answered."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Sequence
from typing import Any

from graphql import GraphQLResolveInfoHelpers
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class Executor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core stores the executor's own bound methods on it (`async_helpers`, passed to
    resolvers as `info.async_helpers`), so every executor, and the request's context, loaders
    and ASGI callables it reaches, was a reference cycle left for a full collection (issue 19).
    Here the helpers hold the executor weakly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = weak_helpers(self)


def weak_helpers(executor: Executor) -> GraphQLResolveInfoHelpers:
    """`gather` and `track` of an executor, holding it weakly. A resolver calls them while its
    operation runs, which holds the executor; were it gone, values are only gathered."""
    ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        live = ref()
        return gather_with_cancel(*values) if live is None else live.gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        live = ref()
        if live is not None:
            live.track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)
