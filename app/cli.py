"""The `insitechart` command: serve, migrate, and (in their own modules) seed, demo and more."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from app import cli_seed
from app.cli_errors import CliError, ExitCode, fail
from app.config import Settings, get_settings
from app.db import DatabaseUnavailable, check_database, create_database
from app.logging import configure_logging
from app.monitoring.metrics import worker_metrics

log = logging.getLogger("insitechart.cli")
Command = Callable[[argparse.Namespace, Settings], int]
MAX_WORKERS = 64

__all__ = ["fail", "main"]


def load_settings() -> Settings:
    """Settings from the environment; a bad value is one clear line, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"invalid configuration: {problems}", ExitCode.CONFIG) from None


def ensure_database(settings: Settings) -> None:
    try:
        asyncio.run(check_database(settings))
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), ExitCode.UNREACHABLE) from None


def migration_problem(settings: Settings) -> str | None:
    """Why the (reachable) database is not at the code's revision, or None."""
    from app.migrate import schema_problem

    async def run() -> str | None:
        db = create_database(settings)
        try:
            return await schema_problem(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def ensure_migrated(settings: Settings) -> None:
    """Stop with one line unless the database is reachable and migrated to head."""
    from app.migrate import RUN_MIGRATE

    ensure_database(settings)
    problem = migration_problem(settings)
    if problem is not None:
        raise CliError(f"{problem}; {RUN_MIGRATE}", ExitCode.NOT_MIGRATED)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in low..high, or a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def add_bind_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--host", help="interface to bind (default: HOST, else 127.0.0.1)")
    cmd.add_argument(
        "--port",
        type=bounded_int(1, 65535),
        help="port to bind, 1..65535 (default: PORT, else 8000)",
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.migrate import RUN_MIGRATE

    ensure_database(settings)
    # Through the app's logging: in production these are JSON lines like every other.
    configure_logging(settings)
    log.info("database: %s", settings.database_url_safe)
    problem = migration_problem(settings)
    if problem is not None:
        log.warning("%s; %s (/readyz answers 503 until then)", problem, RUN_MIGRATE)
    workers = args.workers if args.workers is not None else settings.workers
    with worker_metrics(workers):  # one /metrics summed over the workers
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port if args.port is not None else settings.port,
            workers=workers,
            log_level=settings.log_level,
            proxy_headers=True,
            ws_per_message_deflate=settings.realtime_ws_deflate,
            ws_max_size=settings.ws_max_message_bytes,  # 1009 "message too big" past it
            server_header=False,  # no "server: uvicorn" banner
            log_config=None if settings.is_production else uvicorn.config.LOGGING_CONFIG,
        )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from alembic.util.exc import CommandError

    from app import migrate

    if args.direction == "down" and not args.revision:
        raise CliError("`migrate down` needs a revision: a revision id, -1 (one step) or base")
    if args.direction == "down" and args.revision == "base" and not args.yes:
        raise CliError(
            "`migrate down base` drops every table and its data; add --yes to confirm",
            ExitCode.NEEDS_CONFIRMATION,
        )
    ensure_database(settings)
    target = args.revision or "head"

    async def run() -> None:
        db = create_database(settings)
        try:
            if args.direction == "up":
                await migrate.upgrade(db, target)
            else:
                await migrate.downgrade(db, target)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except CommandError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise CliError(f"cannot migrate {args.direction} to {target}: {reason}",
                       ExitCode.NOT_FOUND) from None  # fmt: skip
    print(f"migrated {args.direction} to {target} ({settings.database_url_safe})")
    return 0


def package_version() -> str:
    try:
        return version("insitechart")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="insitechart",
        description="InsiteChart: GraphQL API for stock-market sentiment. Settings come from "
        "the environment and .env (docs/CONFIGURATION.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API with uvicorn", description="Run the API.")
    add_bind_options(serve)
    serve.add_argument(
        "--workers",
        type=bounded_int(1, MAX_WORKERS),
        help=f"worker processes, 1..{MAX_WORKERS} (default: WORKERS, else 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    mig = sub.add_parser(
        "migrate",
        help="apply (up) or roll back (down) database migrations",
        description="Apply or roll back migrations. `down` needs a revision; `down base` "
        "(every table dropped) also needs --yes.",
    )
    mig.add_argument("direction", choices=["up", "down"], nargs="?", default="up",
                     help="up or down (default: up)")  # fmt: skip
    mig.add_argument("revision", nargs="?",
                     help="target revision: an id, head, base, +1 or -1 (default: head for up; "
                          "none for down, which needs one)")  # fmt: skip
    mig.add_argument("--yes", action="store_true",
                     help="confirm `down base`: it drops every table (default: off)")  # fmt: skip
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
    try:
        settings = load_settings()
        handler: Command = args.handler
        return handler(args, settings)
    except CliError as exc:
        return fail(exc.message, exc.code)
    except KeyboardInterrupt:
        return fail("interrupted", ExitCode.INTERRUPTED)


if __name__ == "__main__":
    raise SystemExit(main())
