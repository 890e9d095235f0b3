"""`insitechart apikey create|list|revoke`: partners' API keys, each shown once at creation."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.apikeys import SCOPES, TIERS, InvalidKeyRequest, create_key, list_keys, revoke_key
from app.cli.checks import ensure_migrated
from app.cli.errors import CliError, ExitCode
from app.cli.options import Subcommands
from app.config import Settings
from app.db import Database, create_database

T = TypeVar("T")


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    ensure_migrated(settings)

    async def run() -> T:
        db = create_database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    scopes = args.scope or ["read"]
    try:
        token, key = run_with_database(
            settings, lambda db: create_key(db, args.name, scopes, args.tier)
        )
    except InvalidKeyRequest as exc:
        raise CliError(str(exc)) from None
    print(
        f"created key {key.id} ({key.name}), scopes {','.join(sorted(key.scopes))}, tier {key.tier}"
    )
    print(f"key: {token}")
    print("store it now: it is not shown again and only its hash is kept")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    keys = run_with_database(settings, list_keys)
    print(f"{'id':>5}  {'name':<24} {'prefix':<11} {'scopes':<18} {'tier':<9} status")
    for key in keys:
        status = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        scopes = ",".join(s for s in SCOPES if s in key.scopes)
        print(f"{key.id:>5}  {key.name:<24} {key.prefix:<11} {scopes:<18} {key.tier:<9} {status}")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    revoked = run_with_database(settings, lambda db: revoke_key(db, args.id))
    if not revoked:
        raise CliError(f"no active API key with id {args.id}", ExitCode.NOT_FOUND)
    print(f"revoked key {args.id}")
    return 0


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("apikey", help="create, list or revoke API keys")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who the key is for (required)")
    create.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help=f"one of {', '.join(SCOPES)}; repeat for several (default: read)",
    )
    create.add_argument(
        "--tier",
        choices=TIERS,
        default="partner",
        help=f"cost budget tier, one of {', '.join(TIERS)} (default: partner)",
    )
    create.set_defaults(handler=cmd_create)

    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.set_defaults(handler=cmd_list)

    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int, help="the key's id, as `apikey list` shows it")
    revoke.set_defaults(handler=cmd_revoke)
