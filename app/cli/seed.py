"""`insitechart seed` (demo data, with a progress bar) and `demo` (migrate, seed, serve)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from app import migrate
from app.cli.checks import ensure_database, ensure_migrated
from app.cli.errors import CliError
from app.cli.options import Subcommands, add_bind_options
from app.cli.serve import cmd_serve
from app.config import Settings
from app.db import create_database
from app.demo.seed import SeedError, SeedOptions, SeedReport, count_mentions, seed
from app.demo.universe import load_universe


def register(sub: Subcommands) -> None:
    """Register `seed` and `demo` on the `insitechart` parser."""
    cmd = sub.add_parser("seed", help="load the S&P 500 and generated, scored mentions")
    add_seed_options(cmd)
    cmd.set_defaults(handler=cmd_seed)

    demo = sub.add_parser("demo", help="migrate, load demo data if the database is empty, serve")
    add_bind_options(demo)
    demo.set_defaults(handler=cmd_demo, workers=None)


def add_seed_options(cmd: argparse.ArgumentParser) -> None:
    d = SeedOptions()
    option = cmd.add_argument
    option("--mentions", type=int, default=d.mentions, metavar="N",
           help=f"mentions in all, or to add with --append (default: {d.mentions})")  # fmt: skip
    option("--days", type=int, default=d.days, metavar="N",
           help=f"spread mentions over the last N days (default: {d.days})")  # fmt: skip
    option("--stocks", type=int, default=None, metavar="N",
           help="only the N most talked-about stocks (default: all of the S&P 500)")  # fmt: skip
    option("--batch-size", type=int, default=d.batch_size, metavar="N",
           help=f"mentions per transaction (default: {d.batch_size})")  # fmt: skip
    option("--random-seed", type=int, default=d.random_seed, metavar="N",
           help=f"the same seed gives the same data (default: {d.random_seed})")  # fmt: skip
    option("--append", action="store_true",
           help="add --mentions after the highest stored (default: off: up to it)")  # fmt: skip
    option("--quiet", action="store_true",
           help="no progress bar on stderr, only the summary (default: off)")  # fmt: skip


def options_from(args: argparse.Namespace) -> SeedOptions:
    return SeedOptions(
        mentions=args.mentions,
        days=args.days,
        stocks=args.stocks,
        batch_size=args.batch_size,
        random_seed=args.random_seed,
        append=args.append,
    )


async def run_seed(
    settings: Settings, options: SeedOptions, *, only_if_empty: bool, show_progress: bool = True
) -> str:
    """Seed with a progress bar on stderr (unless told not to); return the one-line summary."""
    db = create_database(settings)
    try:
        if only_if_empty:
            existing = await count_mentions(db)
            if existing:
                return f"database already has {existing} mentions; not seeding"
        with _progress(show_progress) as progress:
            task: list[TaskID] = []

            def on_plan(first: int, stop: int) -> None:
                task.append(progress.add_task("mentions", total=max(stop - first, 0)))

            def on_batch(n: int) -> None:
                progress.advance(task[0], n)

            report = await seed(db, options, on_plan=on_plan, on_batch=on_batch)
    finally:
        await db.dispose()
    return summary(report)


def summary(report: SeedReport) -> str:
    stocks = f"{report.stocks} stocks ({report.stocks_added} new)"
    if report.stop_index <= report.first_index:
        return f"seeded {stocks}; mentions already up to seed-{report.first_index - 1}, none added"
    return (
        f"seeded {stocks} and {report.mentions_added} new mentions "
        f"(seed-{report.first_index}..seed-{report.stop_index - 1}) in {report.elapsed_s:.1f} s "
        f"({report.rows_per_s:,.0f} mentions/s)"
    )


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
        disable=not show,
    )


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    options = options_from(args)
    try:
        options.check(len(load_universe()))
        ensure_migrated(settings)
        show = not args.quiet
        print(asyncio.run(run_seed(settings, options, only_if_empty=False, show_progress=show)))
    except SeedError as exc:
        raise CliError(str(exc)) from None
    return 0


async def prepare_demo(settings: Settings, options: SeedOptions | None = None) -> str:
    """Migrate to head, then seed (with the defaults) only if there is no mention yet."""
    db = create_database(settings)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()
    return await run_seed(settings, options or SeedOptions(), only_if_empty=True)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    ensure_database(settings)
    print(asyncio.run(prepare_demo(settings)), file=sys.stderr)
    return cmd_serve(args, settings)
