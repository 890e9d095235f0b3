"""GraphiQL works offline: the app serves every asset, and a real headless Chromium runs a query."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings
from app.db import Database
from tests.factories.stocks import make_stock
from tests.liveserver import live_server

ASSET = re.compile(r'(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?')
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
)
QUERY = '{ stock(symbol: "AAPL") { symbol name } }'


async def test_the_page_names_no_external_host_and_every_asset_is_served(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "//" not in page.text  # no URL with a host at all: every asset is a path here

    assets = ASSET.findall(page.text)
    assert len(assets) == 8  # 2 styles + ours, 4 scripts + ours
    for path, integrity in assets:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert path.startswith("/graphiql/"), path
        if path.endswith("start.js"):
            assert "//" not in response.text.replace("// ", "")  # nor does our script name one
        if integrity:
            digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            assert integrity == f"sha384-{digest}", path


def chromium_binary(config: pytest.Config) -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
    if config.getoption("--require-services") or os.environ.get("INSITECHART_REQUIRE_SERVICES"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class DevTools:
    """A minimal Chrome DevTools protocol client over one target's WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ask = self.next_id
        await self.ws.send(orjson.dumps({"id": ask, "method": method, "params": params}).decode())
        while True:
            message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if message.get("id") == ask:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 45.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"not true within {timeout_s} s: {expression}; events: {self.errors}")

    @property
    def errors(self) -> list[Any]:
        return [e["params"] for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]


async def debugging_url(process: asyncio.subprocess.Process) -> str:
    """Chromium prints `DevTools listening on ws://...` on stderr once it is up."""
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        if not line:
            raise RuntimeError("chromium exited before its DevTools endpoint was up")
        match = re.search(r"DevTools listening on (ws://\S+)", line)
        if match:
            return match.group(1)


@pytest.fixture
async def chromium(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, int]]:
    """A headless Chromium with a fresh profile: (browser WebSocket URL, its DevTools port)."""
    binary = chromium_binary(request.config)
    process = await asyncio.create_subprocess_exec(
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    drain: asyncio.Task[bytes] | None = None
    try:
        url = await debugging_url(process)
        assert process.stderr is not None
        # Chromium keeps logging (D-Bus, GPU); a full pipe would block it.
        drain = asyncio.create_task(process.stderr.read())
        port = int(url.split(":")[2].split("/")[0])
        yield url, port
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        if drain is not None:
            await drain


async def test_graphiql_renders_and_runs_a_query_in_headless_chromium(
    db: Database, settings: Settings, chromium: tuple[str, int]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL", name="Apple Inc.")
    _, devtools_port = chromium
    async with live_server(settings) as server:
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{devtools_port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            tools = DevTools(ws)
            await tools.call("Runtime.enable")
            await tools.call("Network.enable")
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=f"{server.http_url}/graphql?q={quote(QUERY)}")

            await tools.wait_for("!!document.querySelector('.graphiql-query-editor .CodeMirror')")
            await tools.wait_for("!!document.querySelector('.graphiql-execute-button')")
            await tools.evaluate("document.querySelector('.graphiql-execute-button').click()")
            result = await tools.wait_for(
                "(() => { const text = (document.querySelector('.result-window') || {}).innerText;"
                " return text && text.includes('Apple Inc.') ? text : ''; })()"
            )

    assert '"symbol": "AAPL"' in result
    assert tools.errors == []
    urls = tools.requested_urls()
    assert any(u.endswith("/graphiql/vendor/graphiql-3.8.3.min.js") for u in urls)
    outside = [u for u in urls if not u.startswith((server.http_url, "data:"))]
    assert outside == []
