"""Compose the application: the only module of app/ that imports schema/."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import HTTPConnection

from app.cache import cache_state
from app.config import Settings, get_settings
from app.http_limits import GraphQLHTTPError, GraphQLHTTPRules, graphql_http_error_handler
from app.logging import configure_logging
from app.monitoring.http import metrics_endpoint
from app.resources import Resources
from app.response_cache import ResponseCache
from app.runtime import tuned_gc
from app.wire import ExposeWire
from loaders.warming import Warmer
from schema import build_schema
from schema.auth import Unauthenticated
from schema.context import Context
from schema.live import LiveRouter

log = logging.getLogger("insitechart.app")


def start_warming(resources: Resources) -> Warmer | None:
    settings = resources.settings
    if resources.cache is None:
        return None
    warmer = Warmer(
        resources.db,
        resources.cache,
        settings.cache_warm_top_stocks,
        on_start=settings.cache_warm_on_start,
        interval_s=settings.cache_warm_interval_s,
    )
    warmer.start()
    return warmer


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        if resources.monitor is not None:
            resources.monitor.start()
        warmer = start_warming(resources)
        app.state.warmer = warmer
        log.info("started with database %s", settings.database_url_safe)
        try:
            with tuned_gc(settings):
                yield
        finally:
            if warmer is not None:
                await warmer.stop()
            await resources.close()

    app = FastAPI(title="InsiteChart", lifespan=lifespan, docs_url=None, redoc_url=None)

    async def context_getter(connection: HTTPConnection) -> Context:
        try:
            return await Context.build(connection.app.state.resources, connection)
        except Unauthenticated as exc:
            # No anonymous fallback: a bad key is refused before anything executes.
            raise GraphQLHTTPError(
                401, exc.code, str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None

    schema = build_schema(settings)
    router = LiveRouter(
        settings,
        schema,
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
    )
    app.include_router(router, prefix="/graphql")
    schema_version = hashlib.sha256(schema.as_str().encode()).hexdigest()[:12]
    app.add_middleware(ResponseCache, settings=settings, schema_version=schema_version)
    if settings.compress_enabled:
        # Outside the response cache, which sends its hits already compressed (Content-Encoding
        # set: passed through); this compresses what executed and was not stored.
        app.add_middleware(
            GZipMiddleware,
            minimum_size=settings.compress_min_bytes,
            compresslevel=settings.compress_level,
        )
    # The HTTP rules are added last, so they run first: a refused request never reaches the
    # response cache.
    app.add_exception_handler(GraphQLHTTPError, graphql_http_error_handler)
    app.add_middleware(
        GraphQLHTTPRules,
        path="/graphql",
        max_body_bytes=settings.limits_max_body_bytes,
        max_tokens=settings.limits_max_tokens,
        timeout_s=settings.limits_execution_timeout_s,
    )
    app.add_middleware(ExposeWire)  # outermost: it must see the server's own `send`
    app.state.ws_limits = router.limits
    app.state.multiplexer = router.multiplexer

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
        cache = await cache_state(resources.cache)
        if cache == "down":
            log.warning("readiness: cache (Redis) unreachable")
            body = {"status": "unavailable", "database": "up", "cache": "down"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "database": "up", "cache": cache})

    return app
