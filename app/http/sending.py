"""Sending responses from ASGI middleware: held back until complete, marked private, or whole."""

from __future__ import annotations

from starlette.types import Message, Send

JSON = (b"content-type", b"application/json")


class Recorder:
    """Holds a response back until it is complete, so headers can still be added."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.streaming = False
        self.done = False

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start else 0

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def send(self, message: Message) -> None:
        if self.streaming:
            await self._send(message)
            return
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            # A stream (multipart, subscriptions over HTTP) is passed through, never cached.
            self.streaming = True
            await self.flush([])
            return
        self.done = True

    def replace_body(self, body: bytes) -> None:
        """Send `body` instead of the recorded one (its content-length follows)."""
        if self.start is None:
            return
        kept = [(k, v) for k, v in self.start.get("headers", []) if k != b"content-length"]
        length = (b"content-length", str(len(body)).encode())
        self.start = {**self.start, "headers": [*kept, length]}
        self.chunks = [body]

    async def flush(self, extra_headers: list[tuple[bytes, bytes]]) -> None:
        if self.start is None:
            return
        start, self.start = self.start, None
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"cache-control"]
        await self._send({**start, "headers": headers + extra_headers})
        body, self.chunks = self.body, []
        await self._send({"type": "http.response.body", "body": body, "more_body": not self.done})


def private(send: Send) -> Send:
    """Mark responses that depend on the caller (or cannot be told apart) as not storable."""

    async def private_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            headers.append((b"cache-control", b"private, no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return private_send


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    content_type: bool = True,
) -> None:
    all_headers = [*headers, (b"content-length", str(len(body)).encode())]
    if content_type:
        all_headers.append(JSON)
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
