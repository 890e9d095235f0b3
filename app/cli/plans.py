"""`insitechart sql-plans`: a running server's busiest SQL shapes, with their plans and hints."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx

from app.cli.errors import fail
from app.cli.options import Subcommands
from app.config import Settings

QUERY = """
query SqlPlans {
  serverStats { busiestSql { fingerprint count meanMs maxMs totalMs plan hints } }
}
"""


def fetch(url: str, token: str, timeout_s: float) -> list[dict[str, Any]]:
    """The worker's statement shapes, most total time first; ValueError with a one-line reason."""
    try:
        response = httpx.post(
            url,
            json={"query": QUERY, "operationName": "SqlPlans"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        raise ValueError(f"{url} answered HTTP {response.status_code}, not GraphQL") from None
    errors = body.get("errors") or []
    if errors:
        error = errors[0]
        code = (error.get("extensions") or {}).get("code", "ERROR")
        raise ValueError(f"{code}: {error.get('message')}")
    shapes: list[dict[str, Any]] = body["data"]["serverStats"]["busiestSql"]
    return shapes


def render(shapes: list[dict[str, Any]], top: int) -> str:
    blocks = []
    for rank, shape in enumerate(shapes[:top], start=1):
        lines = [
            f"{rank}. {shape['totalMs']:.1f} ms in all, {shape['count']} runs, "
            f"mean {shape['meanMs']:.2f} ms, max {shape['maxMs']:.2f} ms",
            f"   {shape['fingerprint']}",
        ]
        plan = shape["plan"]
        if plan is None:
            lines.append("   plan: none captured (never slow, or not PostgreSQL)")
        else:
            lines += ["   plan:", *(f"     {line}" for line in plan.splitlines())]
        lines += [f"   hint: {hint}" for hint in shape["hints"]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "no SQL recorded yet"


def cmd_sql_plans(args: argparse.Namespace, settings: Settings) -> int:
    token = args.key or os.environ.get("INSITECHART_ADMIN_KEY")
    if not token:
        return fail("an API key with the admin scope is needed: --key or INSITECHART_ADMIN_KEY")
    url = args.url or f"http://{settings.host}:{settings.port}/graphql"
    try:
        shapes = fetch(url, token, args.timeout)
    except ValueError as exc:
        print(f"insitechart: error: {exc}", file=sys.stderr)
        return 1
    print(render(shapes, args.top))
    return 0


def register(sub: Subcommands) -> None:
    plans = sub.add_parser(
        "sql-plans",
        help="list a running server's busiest SQL shapes with their query plans and hints",
        description="Asks one worker of a running server (serverStats, admin scope) for the SQL "
        "statement shapes that took the most time in all, each with the plan captured when it "
        "was first slow (PostgreSQL) and hints such as a sequential scan of a large table.",
    )
    plans.add_argument(
        "--url", help="the server's GraphQL endpoint (default: http://HOST:PORT/graphql)"
    )
    plans.add_argument(
        "--key", help="API key with the admin scope (default: INSITECHART_ADMIN_KEY)"
    )
    plans.add_argument("--top", type=int, default=10, help="how many shapes (default: 10)")
    plans.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the server (default: 10)"
    )
    plans.set_defaults(handler=cmd_sql_plans)
