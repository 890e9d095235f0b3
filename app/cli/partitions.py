"""`insitechart partitions`: one partition maintenance pass, for a scheduler (cron, CronJob)."""

from __future__ import annotations

import argparse
import asyncio

from app.cli.checks import ensure_database
from app.cli.options import Subcommands
from app.config import Settings
from app.db import create_database
from app.partitions import Report, maintain
from app.timeutil import utcnow


def cmd_partitions(args: argparse.Namespace, settings: Settings) -> int:
    ensure_database(settings)

    async def run() -> Report:
        db = create_database(settings)
        try:
            return await maintain(
                db,
                utcnow(),
                settings.mentions_partition_interval,
                settings.mentions_partitions_ahead,
                settings.mentions_retention_days,
            )
        finally:
            await db.dispose()

    print(asyncio.run(run()).line())
    return 0


def register(sub: Subcommands) -> None:
    cmd = sub.add_parser(
        "partitions",
        help="create mention partitions ahead of now, drop those past retention (idempotent)",
    )
    cmd.set_defaults(handler=cmd_partitions)
