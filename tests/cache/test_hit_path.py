"""The response-cache hit path's lean pieces behave as what they replace: the plain responder
sends what Starlette's IdentityResponder sends, and an entry's head line is read once."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from starlette.middleware.gzip import IdentityResponder

from app.http.entry import _head, decode, encode
from app.http.response_compression import PlainResponder

Message = dict[str, Any]
JSON = (b"content-type", b"application/json")

# (status, headers, body parts): every branch of the identity responder.
RESPONSES: list[tuple[int, list[tuple[bytes, bytes]], list[bytes]]] = [
    (200, [JSON], [b"x" * 600]),  # large: Vary added
    (200, [JSON], [b"x" * 10]),  # small: as it is
    (200, [JSON, (b"vary", b"Origin")], [b"x" * 600]),  # Vary joined
    (200, [(b"vary", b"Origin"), JSON, (b"vary", b"Cookie")], [b"x" * 600]),  # two joined
    (200, [JSON, (b"content-encoding", b"gzip")], [b"x" * 600]),  # coded already
    (206, [JSON], [b"x" * 600]),  # partial
    (200, [(b"content-type", b"text/event-stream; charset=utf-8")], [b"a" * 600, b"b"]),
    (200, [(b"content-type", b"image/png")], [b"x" * 600]),  # an excluded family
    (200, [(b"content-type", b"application/grpc+proto")], [b"x" * 600]),
    (200, [], [b"x" * 600]),  # no content type
    (200, [JSON], [b"x" * 10, b"y" * 10, b""]),  # a small stream: Vary (more to come)
    (304, [], [b""]),
]


async def sent(responder_class: type, status: int, headers: Any, parts: list[bytes]) -> Any:
    out: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        for i, part in enumerate(parts):
            more = i < len(parts) - 1
            await send({"type": "http.response.body", "body": part, "more_body": more})

    async def send(message: Message) -> None:
        out.append(copy.deepcopy(message))

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await responder_class(app, 500)({"type": "http"}, receive, send)
    return out


@pytest.mark.parametrize("response", RESPONSES)
async def test_the_plain_responder_sends_what_starlettes_identity_responder_sends(
    response: tuple[int, list[tuple[bytes, bytes]], list[bytes]],
) -> None:
    expected = await sent(IdentityResponder, *response)
    assert await sent(PlainResponder, *response) == expected
    assert len(expected) == 1 + len(response[2])


def test_an_entrys_head_line_is_read_once_and_a_broken_one_is_a_miss() -> None:
    tags = [("stock:1", 3), ("responses", 7)]
    raw = encode(tags, 1e10, '"etag"', 12, "StockList", b'{"data":{}}', None, None)
    _head.cache_clear()
    first, second = decode(raw), decode(raw)
    assert first == second
    assert first is not None and first[0] is second[0]  # type: ignore[index]
    assert first[:5] == (tuple(tags), 1e10, '"etag"', 12, "StockList")
    assert first[5:] == (b'{"data":{}}', None, None)
    assert _head.cache_info().hits == 1
    head, _, rest = raw.partition(b"\n")
    fields = orjson.loads(head)
    assert decode(orjson.dumps([*fields, 0, 0]) + b"\n" + rest) is None  # an unknown format
    assert decode(b'["no", "tags"]\n{}') is None
    assert decode(head) is None  # no body at all
