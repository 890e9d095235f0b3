"""Free what a request loaded as soon as it is answered, not at the next full collection."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from schema.context import Context


class ReleaseLoaders(SchemaExtension):
    """After a query or mutation (and every extension inside this one) is done, drop its
    loaders' futures and rows (Loaders.release). A subscription keeps them: its context serves
    every event."""

    def on_operation(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        if self._subscription():
            return
        context = execution.context
        if isinstance(context, Context):
            context.loaders.release()

    def _subscription(self) -> bool:
        if self.execution_context.graphql_document is None:
            return False  # refused before it parsed: nothing was loaded
        try:
            return self.execution_context.operation_type is OperationType.SUBSCRIPTION
        except RuntimeError:  # no operation of that name: nothing was executed
            return False
