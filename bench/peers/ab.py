"""`python -m bench.peers.ab BASE_DIR`: this tree against another source tree of InsiteChart,
alternating cell by cell in one run, to measure one change of the executing path.

Both servers run one worker on the bench database, in one mode of `python -m bench peers`:
`none` (every cache off, an API key), `field` (an API key: the field cache only) or `response`
(anonymous: the response cache; `--gzip` sends `Accept-Encoding: gzip`). BASE_DIR is a copy of the
project at the baseline (e.g. `git archive <commit> | tar -x -C /tmp/base`); it runs with this
tree's interpreter, its own modules first on the path.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.config import PROJECT_ROOT, BenchConfig, bench_key
from bench.peers.operations import OPERATIONS, operation
from bench.peers.run import MODE_TITLES, UNCACHED_ENV, PeersOptions, cell, median_cell
from bench.report import machine, now_iso, table
from bench.server import LOG_DIR, Server, server_env


@contextmanager
def serving(tree: Path, config: BenchConfig, port: int, env: dict[str, str]) -> Iterator[Server]:
    """`insitechart serve` from the source tree `tree` on `port`, ready; stopped on exit."""
    command = [sys.executable, "-m", "app.cli", "serve", "--host", config.host, "--port", str(port)]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"ab-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            env={**server_env(config), "PYTHONPATH": str(tree), **env},
            cwd=tree,
            stdout=log,
            stderr=log,
        )
        server = Server(f"tree {tree}", f"http://{config.host}:{port}", process)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


def run_ab(
    base: Path, this: Path, options: PeersOptions, mode: str, config: BenchConfig
) -> dict[str, Any]:
    names = [options.only] if options.only else list(OPERATIONS)
    env = UNCACHED_ENV if mode == "none" else {}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"base": [], "this": []} for n in names}
    with ExitStack() as stack:
        token = stack.enter_context(bench_key(config, "bench-ab", ("read",)))
        servers = {
            "base": stack.enter_context(serving(base, config, config.port, env)),
            "this": stack.enter_context(serving(this, config, config.naive_port, env)),
        }
        for round_ in range(options.rounds):
            for name in names:
                query = operation(name, "app").query
                for side in ("base", "this") if round_ % 2 == 0 else ("this", "base"):
                    key = None if mode == "response" else token
                    result = cell(servers[side], name, query, options, key, round_)
                    raw[name][side].append(result)
    cells = {n: {s: median_cell(rs) for s, rs in sides.items()} for n, sides in raw.items()}
    return {
        "command": "ab", "date": now_iso(), "machine": machine(), "base": str(base),
        "mode": MODE_TITLES[mode], "gzip": options.gzip, "this": str(this), "cells": cells,
    }  # fmt: skip


def cpu_ms(cell: dict[str, Any]) -> float | None:
    """The server's CPU per request (ms): its cores over its req/s, PostgreSQL's not counted."""
    return round(cell["server_cores"] * 1000 / cell["rps"], 1) if cell["rps"] else None


def render(report: dict[str, Any]) -> str:
    rows = []
    for name, sides in report["cells"].items():
        base, this = sides["base"], sides["this"]
        speedup = round(this["rps"] / base["rps"], 2) if base["rps"] else None
        rows.append([name, base["rps"], this["rps"], f"x{speedup}", base["p50_ms"],
                     this["p50_ms"], base["p99_ms"], this["p99_ms"], cpu_ms(base),
                     cpu_ms(this), base["errors"] + this["errors"]])  # fmt: skip
    headers = ["operation", "base req/s", "this req/s", "this/base", "base p50", "this p50",
               "base p99", "this p99", "base CPU ms", "this CPU ms", "errors"]  # fmt: skip
    title = f"{report['date']}  {report['mode']}  gzip={report['gzip']}  base={report['base']}"
    return title + "\n" + table(headers, rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.ab", description=__doc__)
    parser.add_argument("base", type=Path, help="source tree of the baseline")
    parser.add_argument("--this", type=Path, default=PROJECT_ROOT, help="tree measured against it")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="rounds, sides alternating")
    parser.add_argument("--only", choices=OPERATIONS)
    parser.add_argument("--mode", choices=["none", "field", "response"], default="none")
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    args = parser.parse_args()
    options = PeersOptions(
        duration_s=args.duration,
        concurrency=args.concurrency,
        rounds=args.rounds,
        only=args.only,
        gzip=args.gzip,
    )
    config = BenchConfig.from_env()
    print(render(run_ab(args.base.resolve(), args.this.resolve(), options, args.mode, config)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
