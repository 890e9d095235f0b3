"""The per-request context: resources of the process, the caller, and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from app.resources import Resources
from app.timeutil import utcnow
from loaders import LoaderEnv, Loaders
from schema.auth import Principal, bearer_token, identify


@dataclass
class Context(BaseContext):
    resources: Resources
    principal: Principal
    loaders: Loaders

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
        env = LoaderEnv(
            db=resources.db, now=utcnow(), quotes=resources.quotes, cache=resources.cache
        )
        return cls(resources=resources, principal=principal, loaders=Loaders.build(env))

    async def authenticate_connection(self, params: object) -> None:
        """Take the API key from a WebSocket `connection_init` payload (`authorization`)."""
        if not isinstance(params, dict):
            return
        value = params.get("authorization", params.get("Authorization"))
        if value is None:
            return
        token = bearer_token(str(value))
        assert self.request is not None
        self.principal = await identify(self.resources, self.request, token)
