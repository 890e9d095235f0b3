"""Compose the application: the only module of app/ that imports schema/."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from app.config import Settings, get_settings
from app.logging import configure_logging
from app.monitoring.http import metrics_endpoint
from app.resources import Resources
from schema import build_schema
from schema.auth import Unauthenticated
from schema.context import Context

log = logging.getLogger("insitechart.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        if resources.monitor is not None:
            resources.monitor.start()
        log.info("started with database %s", settings.database_url_safe)
        try:
            yield
        finally:
            await resources.close()

    app = FastAPI(title="InsiteChart", lifespan=lifespan, docs_url=None, redoc_url=None)

    async def context_getter(connection: HTTPConnection) -> Context:
        try:
            return await Context.build(connection.app.state.resources, connection)
        except Unauthenticated as exc:
            # No anonymous fallback: a bad key is refused before anything executes.
            raise HTTPException(
                status_code=401,
                detail={"errors": [{"message": str(exc), "extensions": exc.extensions}]},
                headers={"WWW-Authenticate": "Bearer"},
            ) from None

    from strawberry.fastapi import GraphQLRouter

    router: GraphQLRouter[Context, None] = GraphQLRouter(
        build_schema(settings),
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
    )
    app.include_router(router, prefix="/graphql")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if settings.metrics_enabled:
        app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    @app.get("/readyz")
    async def readyz(connection: HTTPConnection) -> JSONResponse:
        resources: Resources = connection.app.state.resources
        try:
            await resources.db.ping(timeout_s=2.0)
        except Exception as exc:
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "up"})

    return app
