"""`insitechart serve`: the API under uvicorn."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from app.cli.checks import ensure_database, migration_problem
from app.cli.options import Subcommands, add_bind_options, bounded_int
from app.config import Settings
from app.http import connections
from app.logging import configure_logging
from app.migrate import RUN_MIGRATE
from app.monitoring.metrics import worker_metrics

log = logging.getLogger("insitechart.cli")
MAX_WORKERS = 64


def uvicorn_options(args: argparse.Namespace, settings: Settings, workers: int) -> dict[str, Any]:
    """The keyword arguments of `uvicorn.run` for the app."""
    import uvicorn

    return {
        "factory": True,
        "host": args.host or settings.host,
        "port": args.port if args.port is not None else settings.port,
        "workers": workers,
        "log_level": settings.log_level,
        # uvicorn builds each access line's arguments before its logger's level check: past
        # INFO, where no line is written, it skips that work per request.
        "access_log": settings.log_level in ("debug", "info"),
        "proxy_headers": True,
        "http": connections.HTTP,  # closed connections freed by refcounting
        "ws": connections.WEBSOCKET,
        "ws_per_message_deflate": settings.realtime_ws_deflate,
        "ws_max_size": settings.ws_max_message_bytes,  # 1009 "message too big" past it
        "server_header": False,  # no "server: uvicorn" banner
        "log_config": None if settings.is_production else uvicorn.config.LOGGING_CONFIG,
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    ensure_database(settings)
    # Through the app's logging: in production these are JSON lines like every other.
    configure_logging(settings)
    log.info("database: %s", settings.database_url_safe)
    problem = migration_problem(settings)
    if problem is not None:
        log.warning("%s; %s (/readyz answers 503 until then)", problem, RUN_MIGRATE)
    workers = args.workers if args.workers is not None else settings.workers
    with worker_metrics(workers):  # one /metrics summed over the workers
        uvicorn.run("app.main:create_app", **uvicorn_options(args, settings, workers))
    return 0


def register(sub: Subcommands) -> None:
    serve = sub.add_parser("serve", help="run the API with uvicorn", description="Run the API.")
    add_bind_options(serve)
    serve.add_argument(
        "--workers",
        type=bounded_int(1, MAX_WORKERS),
        help=f"worker processes, 1..{MAX_WORKERS} (default: WORKERS, else 1)",
    )
    serve.set_defaults(handler=cmd_serve)
