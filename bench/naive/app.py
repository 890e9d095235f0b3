"""The naive baseline served over HTTP: the product's schema with one-by-one loaders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from strawberry.fastapi import GraphQLRouter

from app.config import Settings, get_settings
from app.resources import Resources
from bench.naive.loaders import build_naive_loaders
from loaders import LoaderEnv
from schema import build_schema
from schema.auth import bearer_token, identify
from schema.context import Context


async def naive_context(connection: HTTPConnection) -> Context:
    resources: Resources = connection.app.state.resources
    token = bearer_token(connection.headers.get("authorization"))
    principal = await identify(resources, connection, token)
    env = LoaderEnv.of(resources, cached=False)  # no cache
    return Context(resources=resources, principal=principal, loaders=build_naive_loaders(env))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = Resources.open(settings)
        try:
            yield
        finally:
            await app.state.resources.close()

    app = FastAPI(title="InsiteChart naive baseline", lifespan=lifespan, docs_url=None)
    router: GraphQLRouter[Context, None] = GraphQLRouter(
        build_schema(settings), context_getter=naive_context, graphql_ide=None
    )
    app.include_router(router, prefix="/graphql")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
