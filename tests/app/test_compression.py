"""gzip completed per request: a head deflated once plus any tail is one valid gzip stream."""

from __future__ import annotations

import gzip
import zlib

import pytest

from app.http.compression import accepts_gzip, deflate_head, gzip_with

HEAD = b'{"data":{"stocks":[' + b",".join(b'{"symbol":"S%03d"}' % i for i in range(300)) + b"]}"


@pytest.mark.parametrize("tail", [b"}", b',"extensions":{"cost":{"actualQueryCost":1}}}', b""])
def test_a_deflated_head_and_a_tail_decompress_to_both(tail: bytes) -> None:
    head = deflate_head(HEAD, level=5)
    answer = gzip_with(head, tail, level=5)
    assert gzip.decompress(answer) == HEAD + tail
    # What HTTP clients use: one zlib stream in gzip mode, nothing left over.
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(answer) + decoder.flush() == HEAD + tail
    assert decoder.eof and decoder.unused_data == b""
    assert len(answer) < len(HEAD) // 3


def test_the_same_head_serves_many_tails() -> None:
    head = deflate_head(HEAD, level=1)
    for cost in range(5):
        tail = b',"extensions":{"cost":%d}}' % cost
        assert gzip.decompress(gzip_with(head, tail, level=1)) == HEAD + tail


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("deflate", False),
    ],
)
def test_accept_encoding_admits_gzip_by_name_or_star_with_nonzero_q(
    header: str, expected: bool
) -> None:
    assert accepts_gzip(header) is expected
