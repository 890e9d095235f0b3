"""`python -m bench peers`: InsiteChart's cache modes against PostGraphile 4, one run, alternating.

Three servers run side by side on the bench database: InsiteChart with its caches (anonymous
requests get the response cache; requests with an API key skip it and keep the field cache),
InsiteChart with every cache off, and PostGraphile. For each operation the cells run one after
the other, PostGraphile first, so each ratio compares figures measured within a minute.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.config import BenchConfig, bench_key
from bench.peers.floor import running_floor
from bench.peers.load import CellSpec
from bench.peers.operations import OPERATIONS, differences, operation
from bench.peers.postgraphile import running_postgraphile
from bench.peers.sql import create_computed_columns, drop_computed_columns
from bench.report import machine, now_iso, table
from bench.run import load_phase
from bench.server import Server, running

# The modes in the order they run for each operation, and which server and key each uses.
MODES = ("postgraphile", "floor", "response", "hits", "field", "none")
MODE_TITLES = {
    "postgraphile": "PostGraphile 4",
    "floor": "bare FastAPI, same bytes",
    "response": "response cache",
    "hits": "response cache, warm",
    "field": "field cache only",
    "none": "no cache",
}
SERVER_OF = {"postgraphile": "postgraphile", "floor": "floor", "none": "uncached"}
UNCACHED_ENV = {"CACHE_ENABLED": "false", "CACHE_RESPONSE_ENABLED": "false"}


@dataclass(frozen=True, slots=True)
class PeersOptions:
    duration_s: float = 8.0
    concurrency: int = 16
    warmup_requests: int = 50
    rounds: int = 1
    stocks: int = 500
    only: str | None = None
    peer_port: int | None = None  # default: the naive port + 1
    gzip: bool = False  # send Accept-Encoding: gzip (both servers compress above ~1 KB)


@contextmanager
def peer_database(config: BenchConfig) -> Iterator[None]:
    """The computed columns in the bench database while the block runs."""

    def apply(step: Callable[[AsyncEngine], Awaitable[None]]) -> None:
        async def run() -> None:
            engine = create_async_engine(config.database_url)
            try:
                await step(engine)
            finally:
                await engine.dispose()

        asyncio.run(run())

    apply(create_computed_columns)
    try:
        yield
    finally:
        apply(drop_computed_columns)


def cell(server: Server, name: str, query: str, options: PeersOptions, token: str | None,
         seed: int, prewarm: bool = False) -> dict[str, Any]:  # fmt: skip
    spec = CellSpec(
        url=server.url, name=name, query=query, concurrency=options.concurrency,
        duration_s=options.duration_s, warmup_requests=options.warmup_requests,
        stocks=options.stocks, seed=seed, token=token, gzip=options.gzip, prewarm=prewarm,
    )  # fmt: skip
    result = load_phase(server, spec, module="bench.peers.load")
    summary = dict(result["ops"][name])
    summary["server_cores"] = result["server"]["cpu_cores"]
    summary["load_generator_cores"] = result["load_generator_cores"]
    return summary


def median_cell(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose req/s is the median of the rounds (the lower middle for an even count)."""
    ordered = sorted(results, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rps_rounds"] = [r["rps"] for r in results]
    return chosen


def ratio_of(cell: dict[str, Any], baseline: dict[str, Any]) -> float | None:
    """req/s of `cell` over `baseline`'s, None when the baseline served nothing."""
    return round(cell["rps"] / baseline["rps"], 2) if baseline.get("rps") else None


def ratios(cells: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Each mode's req/s over PostGraphile's (> 1: InsiteChart serves more)."""
    peer = cells.get("postgraphile", {})
    return {mode: ratio_of(c, peer) for mode, c in cells.items() if mode != "postgraphile"}


def hit_bodies(server: Server, names: list[str]) -> dict[str, bytes]:
    """Each operation's answer as an anonymous caller gets it (what a response-cache hit sends),
    with the variables of the first request a cell sends."""
    bodies = {}
    for name in names:
        op = operation(name, "app")
        body = {"query": op.query, "variables": op.variables(random.Random(0), 500)}
        bodies[name] = httpx.post(f"{server.url}/graphql", json=body, timeout=30).content
    return bodies


def compare_answers(
    peer: Server, ours: Server, names: list[str], token: str
) -> dict[str, list[str]]:
    """Each operation once on both servers (a popular symbol for StockDetail): where the
    answers differ, cursors aside; an empty list means the same data."""
    out: dict[str, list[str]] = {}
    for name in names:
        answers = []
        for server, peer_name in ((ours, "app"), (peer, "postgraphile")):
            op = operation(name, peer_name)
            variables = op.variables(random.Random(0), 500)
            headers = {"authorization": f"Bearer {token}"} if peer_name == "app" else {}
            body = {"query": op.query, "variables": variables}
            reply = httpx.post(f"{server.url}/graphql", json=body, headers=headers, timeout=30)
            answers.append(reply.json().get("data"))
        out[name] = differences(answers[0], answers[1])
    return out


def run_peers(config: BenchConfig, options: PeersOptions) -> dict[str, Any]:
    names = [options.only] if options.only else list(OPERATIONS)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {n: {m: [] for m in MODES} for n in names}
    report: dict[str, Any] = {
        "command": "peers", "date": now_iso(), "machine": machine(), "options": asdict(options),
    }  # fmt: skip
    peer_port = options.peer_port or config.naive_port + 1
    with ExitStack() as stack:
        stack.enter_context(peer_database(config))
        token = stack.enter_context(bench_key(config, "bench-peers", ("read",)))
        servers = {
            "postgraphile": stack.enter_context(running_postgraphile(config, peer_port)),
            "cached": stack.enter_context(running("real", config, 1, config.port)),
            "uncached": stack.enter_context(
                running("real", config, 1, config.naive_port, UNCACHED_ENV, "real-uncached")
            ),
        }
        peer, uncached = servers["postgraphile"], servers["uncached"]
        report["answers"] = compare_answers(peer, uncached, names, token)
        bodies = hit_bodies(servers["cached"], names)
        servers["floor"] = stack.enter_context(running_floor(config, peer_port + 1, bodies))
        for round_ in range(options.rounds):
            for name in names:
                for mode in MODES:
                    server = servers[SERVER_OF.get(mode, "cached")]
                    query = operation(name, "postgraphile" if mode == "postgraphile" else "app")
                    key = token if mode in ("field", "none") else None
                    # The warm cell draws a seed of its own: the cold cell's draws are stored
                    # already, and a warm cell must hold every entry it will ask for.
                    seed, warm = (round_ + 1000, True) if mode == "hits" else (round_, False)
                    raw[name][mode].append(
                        cell(server, name, query.query, options, key, seed, prewarm=warm)
                    )
    cells = {n: {m: median_cell(rs) for m, rs in modes.items()} for n, modes in raw.items()}
    report["cells"] = cells
    report["vs_postgraphile"] = {n: ratios(c) for n, c in cells.items()}
    # A hit against the floor: the warm cell, every entry it asks for stored before it starts
    # (the cold cell's figure also counts the first request of each StockDetail symbol, a miss).
    report["hit_vs_floor"] = {n: ratio_of(c["hits"], c["floor"]) for n, c in cells.items()}
    report["load_avg_at_end"] = machine()["load_avg_at_start"]
    return report


def render(report: dict[str, Any]) -> str:
    rows = []
    for name, cells in report["cells"].items():
        vs = report["vs_postgraphile"][name]
        for mode in MODES:
            c = cells[mode]
            ratio = "1.0" if mode == "postgraphile" else vs.get(mode)
            errors = f"{c['errors']} of {c['requests']}"
            rows.append([name, MODE_TITLES[mode], c["rps"], c["p50_ms"], c["p99_ms"], ratio,
                         errors, c.get("cache_hit_ratio"), c["server_cores"]])  # fmt: skip
    headers = ["operation", "mode", "req/s", "p50 ms", "p99 ms", "vs PostGraphile", "errors",
               "hit ratio", "server cores"]  # fmt: skip
    options = report["options"]
    return "\n".join([
        f"{report['date']}  concurrency={options['concurrency']}  {options['duration_s']} s per "
        f"cell  rounds={options['rounds']}  {report['machine']['cpu']}  "
        f"load avg {report['machine']['load_avg_at_start']} -> {report['load_avg_at_end']}",
        table(headers, rows),
        "response-cache hit / bare endpoint with the same bytes: "
        + ", ".join(f"{n}={r}" for n, r in report["hit_vs_floor"].items()),
        "same answers as PostGraphile (cursors aside): "
        + ", ".join(f"{n}={'yes' if not d else d}" for n, d in report["answers"].items()),
    ])  # fmt: skip
