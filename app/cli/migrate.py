"""`insitechart migrate [up|down] [REVISION]`: apply or roll back the migrations."""

from __future__ import annotations

import argparse
import asyncio

from alembic.util.exc import CommandError

from app import migrate
from app.cli.checks import ensure_database
from app.cli.errors import CliError, ExitCode
from app.cli.options import Subcommands
from app.config import Settings
from app.db import create_database


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
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


def register(sub: Subcommands) -> None:
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
