"""The `insitechart` command: serve, migrate, and (in their own modules) seed, demo and more."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from app import cli_seed
from app.config import Settings, get_settings
from app.db import DatabaseUnavailable, check_database, create_database
from app.monitoring.metrics import prepare_workers

Command = Callable[[argparse.Namespace, Settings], int]


def fail(message: str) -> int:
    print(f"insitechart: error: {message}", file=sys.stderr)
    return 2


def load_settings() -> Settings:
    """Settings from the environment; a bad value is one clear line, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SystemExit(fail(f"invalid configuration: {problems}")) from None


def ensure_database(settings: Settings) -> None:
    try:
        asyncio.run(check_database(settings))
    except DatabaseUnavailable as exc:
        raise SystemExit(fail(str(exc))) from None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    ensure_database(settings)
    workers = args.workers or settings.workers
    prepare_workers(workers)  # one /metrics summed over the workers
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
        ws_per_message_deflate=settings.realtime_ws_deflate,
    )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app import migrate

    ensure_database(settings)

    async def run() -> None:
        db = create_database(settings)
        try:
            if args.direction == "up":
                await migrate.upgrade(db, args.revision or "head")
            else:
                await migrate.downgrade(db, args.revision or "base")
        finally:
            await db.dispose()

    asyncio.run(run())
    target = args.revision or ("head" if args.direction == "up" else "base")
    print(f"migrated {args.direction} to {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="insitechart", description="InsiteChart: GraphQL API for stock-market sentiment."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API with uvicorn")
    serve.add_argument("--host", help="interface to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS or 1)")
    serve.set_defaults(handler=cmd_serve)

    mig = sub.add_parser("migrate", help="apply (up) or roll back (down) database migrations")
    mig.add_argument("direction", choices=["up", "down"], nargs="?", default="up")
    mig.add_argument("revision", nargs="?", help="target revision (default: head / base)")
    mig.set_defaults(handler=cmd_migrate)

    cli_seed.add_commands(sub)
    from app.cli_apikeys import add_parser as add_apikey_parser

    add_apikey_parser(sub)
    from app import cli_ingest

    cli_ingest.register(sub)
    from app import cli_plans

    cli_plans.register(sub)
    from app import cli_partitions

    cli_partitions.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    handler: Command = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
