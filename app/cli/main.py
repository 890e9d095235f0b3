"""The `insitechart` command: its parser, built from every command module, and its exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from app.cli import apikeys, ingest, migrate, partitions, plans, seed, serve
from app.cli.checks import load_settings
from app.cli.errors import CliError, ExitCode, fail
from app.config import Settings

Command = Callable[[argparse.Namespace, Settings], int]
# In the order `insitechart --help` lists them.
COMMANDS = (serve, migrate, seed, apikeys, ingest, plans, partitions)


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
    for command in COMMANDS:
        command.register(sub)
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
