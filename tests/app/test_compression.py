"""Stored heads completed per request: a head compressed once plus any tail is one valid stream,
in gzip and in brotli."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import subprocess
import zlib

import brotli
import pytest

from app.http.compression import brotli_head, brotli_with, deflate_head, gzip_with

HEAD = b'{"data":{"stocks":[' + b",".join(b'{"symbol":"S%03d"}' % i for i in range(300)) + b"]}"
COST = b',"extensions":{"cost":{"actualQueryCost":1}}}'
# Tails of every size class: none, a hit's, one meta-block's worth, just over it, several.
TAILS = [b"", b"}", COST, b"x" * 65_536, b"y" * 65_537, os.urandom(200_000)]


def _curl_decodes_brotli() -> bool:
    curl = shutil.which("curl")
    if curl is None:
        return False
    version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
    return "brotli" in version.lower()


@pytest.mark.parametrize("tail", [b"}", COST, b""])
def test_a_deflated_head_and_a_tail_decompress_to_both(tail: bytes) -> None:
    head = deflate_head(HEAD, level=5)
    answer = gzip_with(head, tail)
    assert gzip.decompress(answer) == HEAD + tail
    # What HTTP clients use: one zlib stream in gzip mode, nothing left over.
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(answer) + decoder.flush() == HEAD + tail
    assert decoder.eof and decoder.unused_data == b""
    assert len(answer) < len(HEAD) // 3


@pytest.mark.parametrize("size", [0xFFFE, 0xFFFF, 0x10000, 2 * 0xFFFF, 2 * 0xFFFF + 1])
def test_a_tail_longer_than_a_stored_block_takes_several(size: int) -> None:
    head = deflate_head(HEAD, level=5)
    tail = bytes(i % 251 for i in range(size))
    answer = gzip_with(head, tail)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decoder.decompress(answer) + decoder.flush() == HEAD + tail
    assert decoder.eof and decoder.unused_data == b""
    # Stored, not compressed: the tail's bytes and 5 bytes of header a block of up to 65,535.
    blocks = max(1, -(-size // 0xFFFF))
    assert len(answer) == 10 + len(head.data) + size + 5 * blocks + 8


def test_the_same_head_serves_many_tails() -> None:
    head = deflate_head(HEAD, level=1)
    for cost in range(5):
        tail = b',"extensions":{"cost":%d}}' % cost
        assert gzip.decompress(gzip_with(head, tail)) == HEAD + tail


def streamed(decoder: brotli.Decompressor, data: bytes) -> bytes:
    """What a streaming decoder gives for `data` so far (brotli 1.2 hands a large output over
    in parts of ~32 KiB: asked again with no input, it gives the rest)."""
    out: bytes = decoder.process(data)
    while part := decoder.process(b""):
        out += part
    return out


def brotli_decoded(stream: bytes) -> bytes:
    """The bytes a streaming brotli decoder gives, checked to end exactly where `stream` does."""
    decoder = brotli.Decompressor()
    out = streamed(decoder, stream)
    assert decoder.is_finished()
    assert brotli.decompress(stream) == out
    return out


@pytest.mark.parametrize("quality", range(12))
def test_a_flushed_brotli_head_ends_on_a_byte_boundary(quality: int) -> None:
    # The final empty meta-block is one byte of its own: it is read as such only if the flushed
    # head ended on a byte boundary, whatever the head and the quality.
    for head in (b"", b"{", HEAD[:-1], HEAD * 20, os.urandom(3_000)):
        stream = brotli_head(head, quality)
        decoder = brotli.Decompressor()
        assert streamed(decoder, stream) == head  # flushed: everything given is decodable
        assert not decoder.is_finished()
        assert brotli_decoded(stream + b"\x03") == head


@pytest.mark.parametrize("tail", TAILS, ids=lambda t: f"{len(t)}B")
@pytest.mark.parametrize("quality", [0, 4, 5, 11])
def test_a_brotli_head_and_a_tail_decompress_to_both(quality: int, tail: bytes) -> None:
    head = brotli_head(HEAD[:-1], quality)
    answer = brotli_with(head, tail)
    assert brotli_decoded(answer) == HEAD[:-1] + tail
    assert len(answer) - len(tail) < len(HEAD) // 3


def test_a_hit_tail_is_one_uncompressed_meta_block_and_the_last_empty_one() -> None:
    head = brotli_head(HEAD, 4)
    # ISLAST=0, MNIBBLES=4, MLEN-1=len-1, ISUNCOMPRESSED=1, padding: three bytes, lowest bit first.
    assert brotli_with(head, b"}") == head + bytes([0x00, 0x00, 0x08]) + b"}" + b"\x03"
    assert brotli_with(head, b"z" * 65_536)[len(head) : len(head) + 3] == bytes([0xF8, 0xFF, 0x0F])
    assert brotli_with(head, b"") == head + b"\x03"
    # A longer tail is split into blocks of at most 65,536 bytes.
    long = brotli_with(head, b"w" * 65_537)
    first, second = bytes([0xF8, 0xFF, 0x0F]) + b"w" * 65_536, bytes([0x00, 0x00, 0x08]) + b"w"
    assert long == head + first + second + b"\x03"
    assert brotli_decoded(long) == HEAD + b"w" * 65_537


async def test_curl_decodes_what_brotli_with_makes() -> None:
    """Another decoder than the one beside the encoder: curl's libbrotli (Debian's build)."""
    if not _curl_decodes_brotli():
        pytest.skip("curl with brotli is not installed")
    streams = [brotli_with(brotli_head(HEAD[:-1], q), tail) for q in (0, 4, 11) for tail in TAILS]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        index = int(request.split(b" ")[1].strip(b"/"))
        body = streams[index]
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for index, stream in enumerate(streams):
            curl = await asyncio.create_subprocess_exec(
                "curl", "--silent", "--show-error", "--fail", "--compressed",
                f"http://127.0.0.1:{port}/{index}",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            out, err = await curl.communicate()
            assert curl.returncode == 0, err
            assert out == brotli.decompress(stream)
            assert out == HEAD[:-1] + TAILS[index % len(TAILS)]
