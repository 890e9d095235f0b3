"""A TCP relay in front of the real Redis, so a test can cut Redis off and bring it back."""

from __future__ import annotations

import asyncio
import contextlib
import socket


def closed_port() -> int:
    """A local port nothing listens on (taken from the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        """Listen on `port`; 0 takes a free one at the first start and keeps it for restarts."""
        self.target = (target_host, target_port)
        self.port = port
        self.delay_s = 0.0  # added to every answer from Redis: a slow Redis
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url_prefix(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a dying Redis would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer),
            self._pipe(up_reader, writer, slow=True),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slow: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if slow and self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
