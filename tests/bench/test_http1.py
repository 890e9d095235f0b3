"""The load generators' HTTP/1.1 pool against a real socket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from bench.http1 import Http1Pool, HttpError


@dataclass
class Upstream:
    """Answers each request by its path: /len, /chunked, /close, /hang; counts connections."""

    port: int = 0
    connections: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                path = lines[0].split()[1]
                length = next(
                    int(line.split(":")[1]) for line in lines if line.startswith("content-length")
                )
                self.bodies.append(await reader.readexactly(length))
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                await asyncio.sleep(0.01)
                self.in_flight -= 1
                if path == "/hang":
                    await asyncio.sleep(10)
                if path == "/chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nX-Cache: HIT\r\n\r\n"
                        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    )
                elif path == "/close":
                    writer.write(
                        b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno"
                    )
                    await writer.drain()
                    writer.close()
                    return
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


async def test_requests_share_at_most_size_kept_alive_connections() -> None:
    async with upstream() as up, Http1Pool(f"http://127.0.0.1:{up.port}", 3) as pool:
        replies = await asyncio.gather(
            *(pool.post("/len", f"body {i}".encode(), {}) for i in range(30))
        )
        assert {(r.status, r.body) for r in replies} == {(200, b"ok")}
        assert up.connections == 3 and up.peak_in_flight == 3
        assert sorted(up.bodies) == sorted(f"body {i}".encode() for i in range(30))


async def test_chunked_bodies_and_headers_are_read() -> None:
    async with upstream() as up, Http1Pool(f"http://127.0.0.1:{up.port}", 1) as pool:
        reply = await pool.post("/chunked", b"{}", {"content-type": "application/json"})
        again = await pool.post("/len", b"", {})
    assert (reply.status, reply.body, reply.headers["x-cache"]) == (200, b"abcde", "HIT")
    assert again.body == b"ok" and up.connections == 1  # the same connection, kept alive


async def test_a_connection_the_server_closes_is_replaced() -> None:
    async with upstream() as up, Http1Pool(f"http://127.0.0.1:{up.port}", 1) as pool:
        first = await pool.post("/close", b"", {})
        second = await pool.post("/len", b"", {})
    assert (first.status, first.body, second.body) == (503, b"no", b"ok")
    assert up.connections == 2


async def test_a_hung_request_times_out_and_frees_its_slot() -> None:
    async with upstream() as up, Http1Pool(f"http://127.0.0.1:{up.port}", 1, 0.2) as pool:
        with pytest.raises(HttpError, match=r"no response within 0\.2 s"):
            await pool.post("/hang", b"", {})
        assert (await pool.post("/len", b"", {})).body == b"ok"


async def test_a_refused_connection_is_an_http_error() -> None:
    async with upstream() as up:
        port = up.port
    async with Http1Pool(f"http://127.0.0.1:{port}", 1) as pool:
        with pytest.raises(HttpError):
            await pool.post("/len", b"", {})
        with pytest.raises(HttpError):  # the failed attempt gave its slot back
            await pool.post("/len", b"", {})
