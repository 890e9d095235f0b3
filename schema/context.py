"""The per-request context: resources of the process, the caller, and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from app.resources import Resources
from loaders import LoaderEnv, Loaders
from schema.auth import Principal, bearer_token, identify


@dataclass
class Context(BaseContext):
    resources: Resources
    principal: Principal
    loaders: Loaders
    # Set by a live subscription before each event it yields: the key events coalesce by.
    event_key: str | None = None
    # Set with `event_key`: the event's cursor (its outbox id), sent in the `next` extensions.
    event_cursor: int | None = None
    # Set by the cost budget once the operation has run: the points it actually cost (for traces).
    cost: int | None = None

    def __post_init__(self) -> None:
        super().__init__()

    @classmethod
    async def build(
        cls, resources: Resources, connection: HTTPConnection, token: str | None = None
    ) -> Context:
        """Build a context; `token` defaults to the Authorization header's bearer token."""
        if token is None:
            token = bearer_token(connection.headers.get("authorization"))
        principal = await identify(resources, connection, token)
        loaders = Loaders.build(LoaderEnv.of(resources))
        return cls(resources=resources, principal=principal, loaders=loaders)
