"""What each request leaves in reference cycles: objects only a garbage collection would free.

    .venv/bin/python -m bench.cycles --redis redis://127.0.0.1:6379/11 --requests 50

Each reference operation (and a WebSocket subscription opened and closed) runs through the ASGI
app in-process, called directly (no HTTP client of its own to leave cycles), with the response
cache on and off. Around the requests the collector is disabled; afterwards a collection with
`gc.DEBUG_SAVEALL` keeps what it would have freed, and the script prints per request the objects
by type, by the code that made them (functions, frames, instances by class), and the shortest
cycle through a sample of them, which names the objects that close it. `--no-loader-cache`
makes every loader read the database; `--gzip` asks for compressed responses. The workers' full
automatic collections are off (app/runtime.py), so whatever a request leaves here waits in the
oldest generation until the memory upkeep collects it (issue 19).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import logging
import types
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from bench.config import BenchConfig, bench_settings, read_operations
from bench.workload import Workload

Message = MutableMapping[str, Any]
QUERIES = ("StockDetail", "StockList", "PartnerScores", "Trending", "MentionFeed")
LIVE = "LiveSentiment"
GZIP = b"\x1f\x8b"


def http_scope(body: bytes, gzip: bool) -> dict[str, Any]:
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if gzip:
        headers.append((b"accept-encoding", b"gzip"))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def post(app: FastAPI, payload: dict[str, Any], gzip: bool = False) -> bytes:
    """POST one GraphQL request to the ASGI app; return the response body."""
    body = orjson.dumps(payload)
    done = asyncio.Event()
    chunks: list[bytes] = []
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"HTTP {message['status']}")
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    await app(http_scope(body, gzip), receive, send)
    return b"".join(chunks)


async def subscribe_once(app: FastAPI, query: str, variables: dict[str, Any]) -> None:
    """Open a graphql-transport-ws connection, subscribe, close it from the client side."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"sec-websocket-protocol", b"graphql-transport-ws")],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 50001),
        "server": ("127.0.0.1", 80),
    }

    def text(message: dict[str, Any]) -> Message:
        return {"type": "websocket.receive", "text": orjson.dumps(message).decode()}

    async def expect(kind: str) -> Message:
        message = await asyncio.wait_for(outbox.get(), 5)
        if message["type"] != kind:
            raise RuntimeError(f"expected {kind}, got {message}")
        return message

    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "websocket.connect"})
    await expect("websocket.accept")
    await inbox.put(text({"type": "connection_init"}))
    ack = orjson.loads((await expect("websocket.send"))["text"])
    if ack["type"] != "connection_ack":
        raise RuntimeError(f"no ack: {ack}")
    subscribe = {"query": query, "variables": variables}
    await inbox.put(text({"type": "subscribe", "id": "1", "payload": subscribe}))
    await inbox.put(text({"type": "ping"}))
    pong = orjson.loads((await expect("websocket.send"))["text"])
    if pong["type"] != "pong":
        raise RuntimeError(f"no pong: {pong}")
    await inbox.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)


@contextmanager
def saved_garbage() -> Iterator[list[Any]]:
    """Collect once, then run the block with the collector off; afterwards the list holds what
    a collection found unreachable (kept by DEBUG_SAVEALL instead of freed)."""
    garbage: list[Any] = []
    gc.collect()
    gc.disable()
    try:
        yield garbage
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def maker(obj: Any) -> str:
    """The code an object comes from: a function's, a frame's or a coroutine's name, a class."""
    if isinstance(obj, types.FrameType):
        code = obj.f_code
        return f"frame {code.co_qualname} ({short(code.co_filename)}:{code.co_firstlineno})"
    if isinstance(obj, types.FunctionType):
        return f"function {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, types.MethodType):
        return f"bound method {type(obj.__self__).__qualname__}.{obj.__func__.__qualname__}"
    if isinstance(obj, types.CoroutineType | types.GeneratorType | types.AsyncGeneratorType):
        return f"{type(obj).__name__} {obj.__qualname__}"
    if isinstance(obj, types.CellType):
        try:
            return f"cell of {type(obj.cell_contents).__qualname__}"
        except ValueError:
            return "cell (empty)"
    if type(obj) is dict:
        keys = ",".join(str(k)[:20] for k in list(obj)[:4])
        return f"dict{{{keys}}}"
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def short(path: str) -> str:
    for marker in ("site-packages/", "wt-mem/", "main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def cycle(obj: Any, garbage_ids: set[int], limit: int = 5000) -> list[str]:
    """The shortest reference cycle through `obj` among the garbage, as the makers along it."""
    parents: dict[int, tuple[Any, Any]] = {}
    frontier = [obj]
    while frontier and len(parents) < limit:
        following = []
        for node in frontier:
            for referent in gc.get_referents(node):
                key = id(referent)
                if key not in garbage_ids or key in parents:
                    continue
                parents[key] = (node, referent)
                if referent is obj:
                    return path_of(obj, parents)
                following.append(referent)
        frontier = following
    return []


def path_of(obj: Any, parents: dict[int, tuple[Any, Any]]) -> list[str]:
    path = [maker(obj)]
    node, _ = parents[id(obj)]
    while node is not obj:
        path.append(maker(node))
        node, _ = parents[id(node)]
    path.append(maker(obj))
    return path[::-1]


def report(name: str, garbage: list[Any], runs: int, top: int, chains: int) -> float:
    per_run = len(garbage) / runs
    print(f"\n== {name}: {per_run:.1f} objects per request in cycles ({len(garbage)} / {runs})")
    if not garbage:
        return per_run
    by_type = Counter(type(o).__qualname__ for o in garbage)
    print("   by type:", ", ".join(f"{k} {v / runs:.1f}" for k, v in by_type.most_common(top)))
    by_maker = Counter(maker(o) for o in garbage if not isinstance(o, dict | tuple | list))
    for what, count in by_maker.most_common(top):
        print(f"   {count / runs:6.1f}  {what}")
    ids = {id(o) for o in garbage}
    shown: set[str] = set()
    for obj in garbage:
        if len(shown) >= chains:
            break
        what = maker(obj)
        if what in shown or isinstance(obj, dict | tuple | list | types.CellType):
            continue
        path = cycle(obj, ids)
        if path:
            shown.add(what)
            print("   cycle:", " -> ".join(path))
    return per_run


async def measure(
    label: str,
    run: Callable[[], Awaitable[None]],
    args: argparse.Namespace,
) -> float:
    for _ in range(args.warmup):
        await run()
    with saved_garbage() as garbage:
        for _ in range(args.requests):
            await run()
    result = report(label, garbage, args.requests, args.top, args.cycles)
    garbage.clear()
    return result


async def measure_app(args: argparse.Namespace, response_cache: bool) -> dict[str, float]:
    settings = bench_settings(
        Settings(
            database_url=args.database,
            redis_url=args.redis or None,
            log_level="warning",
            cache_namespace=f"cycles-{uuid.uuid4().hex[:8]}",
            cache_response_enabled=response_cache,
            cache_enabled=not args.no_loader_cache,
            cache_warm_on_start=False,
            cache_warm_interval_s=0,
            memory_trim_interval_s=0,
            mentions_partition_maintenance_s=0,
        )
    )
    logging.getLogger("insitechart.trace").setLevel(logging.ERROR)
    operations = read_operations()
    app = create_app(settings)
    found: dict[str, float] = {}
    suffix = "cache on" if response_cache else "cache off"
    async with app.router.lifespan_context(app):
        for name in args.only or QUERIES:
            workload = Workload(operations, args.stocks, seed=11, only=name)

            async def one(workload: Workload = workload) -> None:
                request = workload.next()
                payload = {"query": request.query, "variables": request.variables}
                body = await post(app, payload, args.gzip)
                answer = orjson.loads(gzip.decompress(body) if body[:2] == GZIP else body)
                if answer.get("errors"):
                    raise RuntimeError(f"{request.name}: {answer['errors'][0]}")

            found[name] = await measure(f"{name} ({suffix})", one, args)
        if response_cache:

            async def live() -> None:
                await subscribe_once(app, operations[LIVE], {"symbols": ["S000", "S001"]})

            found[LIVE] = await measure("WebSocket subscribe + close", live, args)
    return found


async def run(args: argparse.Namespace) -> None:
    summary: dict[str, dict[str, float]] = {}
    for response_cache in {"on": (True,), "off": (False,), "both": (True, False)}[args.cache]:
        summary["cache on" if response_cache else "cache off"] = await measure_app(
            args, response_cache
        )
    print("\nobjects left in cycles per request")
    for label, found in summary.items():
        print(f"  {label:9}", "  ".join(f"{k} {v:.1f}" for k, v in found.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    config = BenchConfig.from_env()
    parser.add_argument("--database", default=config.database_url)
    parser.add_argument("--redis", default=config.redis_url, help="'' for the in-process cache")
    parser.add_argument("--stocks", type=int, default=500, help="symbols S000.. of the bench seed")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring")
    parser.add_argument("--requests", type=int, default=50, help="requests measured")
    parser.add_argument(
        "--no-loader-cache", action="store_true", help="loaders read the database every time"
    )
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    parser.add_argument("--only", nargs="*", choices=QUERIES, help="these operations only")
    parser.add_argument("--cache", choices=("on", "off", "both"), default="both")
    parser.add_argument("--top", type=int, default=12, help="lines per grouping")
    parser.add_argument("--cycles", type=int, default=6, help="cycles shown per operation")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
