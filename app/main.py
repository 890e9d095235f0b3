"""Compose the application: the only module of app/ that imports schema/."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import HTTPConnection

from app.cache import cache_state
from app.config import Settings, get_settings
from app.dbfaults import LogLimiter
from app.http.endpoint import DirectEndpoint
from app.http.front import HitFront
from app.http.graphiql import mount_graphiql_assets
from app.http.known_refusals import KnownRefusals
from app.http.limits import (
    GraphQLHTTPError,
    GraphQLHTTPRules,
    graphql_http_error_handler,
    internal_error_handler,
)
from app.http.response_cache import ResponseCache, SharedResponses
from app.http.response_compression import ResponseCompression
from app.http.security_headers import SecurityHeaders
from app.http.wire import ExposeWire
from app.logging import configure_logging
from app.migrate import RUN_MIGRATE, MigrationCheck
from app.monitoring.http import metrics_endpoint
from app.partition_task import PartitionKeeper
from app.resources import Resources
from app.runtime import tuned_gc
from loaders.warming import Warmer
from schema import build_schema
from schema.auth import Unauthenticated
from schema.context import Context
from schema.errors import RetryLater, drop_database_fault_logs
from schema.live import LiveRouter
from schema.refusals import known_refusal

log = logging.getLogger("insitechart.app")
READINESS_LOG = LogLimiter(burst=1, window_s=30.0)  # a probe every few seconds must not flood


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


async def readiness(resources: Resources, migrations: MigrationCheck) -> dict[str, str]:
    """ "ready", "degraded" (Redis down: served from the database, budgets in-process) or
    "unavailable" (the database is unreachable or not migrated)."""
    try:
        await resources.db.ping(timeout_s=2.0)
    except Exception as exc:
        if READINESS_LOG.allow():
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return {"status": "unavailable", "database": "down"}
    problem = await migrations.problem()
    if problem is not None:
        reason = f"{problem}; {RUN_MIGRATE}"
        return {"status": "unavailable", "database": "not migrated", "reason": reason}
    cache = await cache_state(resources.cache)
    redis = "off" if resources.redis is None else "up" if await resources.redis.ping() else "down"
    degraded = cache == "down" or redis == "down"
    return {
        "status": "degraded" if degraded else "ready",
        "database": "up",
        "cache": cache,
        "redis": redis,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    drop_database_fault_logs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        app.state.migrations = MigrationCheck(resources.db)
        if resources.monitor is not None:
            resources.monitor.start()
        if resources.relay is not None:
            resources.relay.start()
        resources.start()
        warmer = start_warming(resources)
        app.state.warmer = warmer
        keeper = PartitionKeeper(resources.db, settings)
        keeper.start()
        if resources.replicas is not None:
            resources.replicas.start()
        log.info("started with database %s", settings.database_url_safe)
        try:
            with tuned_gc(settings):
                yield
        finally:
            await keeper.stop()
            if warmer is not None:
                await warmer.stop()
            await resources.close()

    app = FastAPI(
        title="InsiteChart",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None if settings.is_production else "/openapi.json",
    )

    async def context_getter(connection: HTTPConnection) -> Context:
        try:
            return await Context.build(connection.app.state.resources, connection)
        except Unauthenticated as exc:
            # No anonymous fallback: a bad key is refused before anything executes.
            raise GraphQLHTTPError(
                401, exc.code, str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        except RetryLater as exc:
            # The API-key lookup needs the database: without it, a keyed request cannot run.
            raise GraphQLHTTPError(
                503,
                exc.code,
                str(exc),
                headers={"Retry-After": str(exc.retry_after_s)},
                retryAfter=exc.retry_after_s,
            ) from None

    schema = build_schema(settings)
    router = LiveRouter(
        settings,
        schema,
        context_getter=context_getter,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
    )
    app.include_router(router, prefix="/graphql")
    if settings.graphiql_enabled:
        mount_graphiql_assets(app)
    schema_version = hashlib.sha256(schema.as_str().encode()).hexdigest()[:12]
    # Innermost: GET and POST /graphql reach the view without FastAPI's routing (the route stays
    # for what this passes on: the WebSocket and HEAD).
    app.add_middleware(DirectEndpoint, path="/graphql", view=router, context_getter=context_getter)
    responses = SharedResponses(settings, schema_version)
    app.add_middleware(ResponseCache, responses=responses)
    # Documents refused already (or over the size or token limit) are answered before the
    # response cache and GraphQL build anything for them.
    refused = known_refusal(
        settings.limits_max_document_bytes,
        settings.limits_max_tokens,
        settings.limits_max_selections,
    )
    app.add_middleware(KnownRefusals, path="/graphql", settings=settings, check=refused)
    if settings.compress_enabled:
        # Outside the response cache, which sends its hits already compressed (Content-Encoding
        # set: passed through); this compresses what executed and was not stored.
        app.add_middleware(
            ResponseCompression,
            offered=settings.compress_encodings,
            minimum_size=settings.compress_min_bytes,
            gzip_level=settings.compress_level,
            brotli_quality=settings.compress_brotli_quality,
        )
    # The HTTP rules are added last, so they run first: a refused request never reaches the
    # response cache.
    app.add_exception_handler(GraphQLHTTPError, graphql_http_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
    app.add_middleware(
        GraphQLHTTPRules,
        path="/graphql",
        max_body_bytes=settings.limits_max_body_bytes,
        max_tokens=settings.limits_max_tokens,
        timeout_s=settings.limits_execution_timeout_s,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ExposeWire)  # it must see the server's own `send` of a WebSocket
    if settings.cache_response_enabled:
        # Outermost: a plain hit is answered before the chain above (it passes WebSockets on).
        app.add_middleware(
            HitFront, path="/graphql", settings=settings, responses=responses, check=refused
        )
    app.state.ws_limits = router.limits
    app.state.multiplexer = router.multiplexer

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/graphql", status_code=307)

    @app.get("/healthz")
    @app.get("/livez")
    async def livez() -> dict[str, str]:
        """Liveness: the process answers; it checks no backend, so an outage restarts nothing."""
        return {"status": "ok"}

    if settings.metrics_enabled:
        app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    @app.get("/readyz")
    async def readyz(connection: HTTPConnection) -> JSONResponse:
        """Readiness: 503 only when requests cannot be served (the database is unreachable)."""
        resources: Resources = connection.app.state.resources
        body = await readiness(resources, connection.app.state.migrations)
        status = 503 if body["status"] == "unavailable" else 200
        headers = {"Retry-After": "2"} if status == 503 else None
        return JSONResponse(body, status_code=status, headers=headers)

    return app
