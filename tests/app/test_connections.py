"""A closed WebSocket leaves nothing that only a full garbage collection would free."""

from __future__ import annotations

import asyncio
import gc

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.server import ServerProtocol

from app.config import Settings
from app.db import Database
from app.http.connections import HeadWithBody
from tests.factories.stocks import make_stock
from tests.liveserver import live_server, receive, send, subscribe, ws_client

SERVER_SIDE = (HttpToolsProtocol, WebSocketsSansIOProtocol, ServerProtocol)


async def test_closed_subscriptions_leave_no_connection_object_to_a_full_collection(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    quiet = settings.model_copy(update={"memory_trim_interval_s": 0})
    async with live_server(quiet) as server:
        gc.collect()
        for round_ in range(10):
            async with ws_client(server) as ws:
                query = operations["LiveSentiment" if round_ % 2 else "LiveMentions"]
                await subscribe(ws, "s", query, {"symbols": ["AAPL"]})
                await send(ws, {"type": "ping"})
                assert (await receive(ws))["type"] == "pong"
        await asyncio.sleep(0.2)  # the server sees the last close
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            left = [o for o in gc.garbage if isinstance(o, SERVER_SIDE)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert left == []  # each went with its last reference, not with a collection


class Recording:
    """A transport that records what it is asked to do (what the socket would be sent)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, parts: list[bytes]) -> None:
        self.writes.append(b"".join(parts))  # one write, of every part

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_a_head_goes_out_with_its_body_at_once() -> None:
    recording = Recording()
    transport = HeadWithBody(recording)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert recording.writes == []  # held for the body
    transport.write(b"body")
    assert recording.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]  # at once, not a turn later
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")  # a HEAD answer: no body follows
    await asyncio.sleep(0)
    assert recording.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\n"]  # sent once the turn is over
    assert transport.get_extra_info("peername") == "info:peername"


async def test_closing_writes_what_is_held_first_and_aborting_drops_it() -> None:
    recording = Recording()
    transport = HeadWithBody(recording)  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.close()
    assert recording.writes == [b"last words"] and recording.closed
    transport.write(b"too late")
    await asyncio.sleep(0)
    assert recording.writes == [b"last words"]  # nothing is written to a closing transport
    aborted = Recording()
    transport = HeadWithBody(aborted)  # type: ignore[arg-type]
    transport.write(b"lost")
    transport.abort()
    await asyncio.sleep(0)
    assert aborted.writes == [] and aborted.aborted


async def test_a_live_server_answers_pipelined_requests_whole_and_in_order(
    db: Database, settings: Settings
) -> None:
    async with live_server(settings) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
        writer.write(request * 3 + b"HEAD /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 4 or not answers.endswith(b"\r\n\r\n"):
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, answers
            answers += chunk
        writer.close()
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 3 and answers.count(b'{"status":"ok"}') == 3
    assert answers.count(b"HTTP/1.1 405") == 1  # HEAD is not routed, and its head still arrives
