"""Compressed answers for responses whose head is stored: compressed once, completed per request.

A response-cache hit is the stored body with the caller's own `extensions.cost` appended, so
its bytes differ on every request. The stored part (the head) is compressed once, when the entry
is written, in each coding offered; a hit only appends its few tail bytes:

- gzip: the head is deflated up to a sync point (a byte boundary, no final block); a hit appends
  its tail as stored (uncompressed) deflate blocks, the last one final (RFC 1951 §3.2.4), and
  wraps both in one gzip member, whose CRC-32 continues from the head's. Nothing is compressed per
  hit: a compressor's set-up alone cost more than the tail's few dozen bytes would save.
- brotli: the head is compressed and flushed, not finished. A flush ends on a byte boundary (the
  encoder pads with an empty metadata meta-block), so the stream can go on with meta-blocks of
  our own: a hit appends its tail as uncompressed meta-blocks (RFC 7932 §9.2) and the final empty
  meta-block. Nothing is compressed per hit; brotli has no checksum or length to carry on.

Any gzip or brotli decoder reads the result as one stream.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import brotli

# Magic, deflate, no flags, no modification time, no extra flags, unknown OS (RFC 1952).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
RAW_DEFLATE = -zlib.MAX_WBITS  # deflate blocks with no zlib or gzip wrapper
# An uncompressed meta-block's header with 4 nibbles of MLEN-1 (bits, lowest first: ISLAST=0,
# MNIBBLES=0 for 4, MLEN-1 in 16 bits, ISUNCOMPRESSED=1, then 4 zero bits to the byte boundary)
# holds at most 65,536 bytes; a longer tail takes several blocks.
UNCOMPRESSED_MAX = 1 << 16
STORED_MAX = 0xFFFF  # the most a stored deflate block holds (LEN is 16 bits)
UNCOMPRESSED = 1 << 19
LAST_EMPTY = b"\x03"  # ISLAST=1, ISLASTEMPTY=1, zero padding: the end of a brotli stream


@dataclass(frozen=True, slots=True)
class Deflated:
    """The head of a body, deflated up to a sync point, with its CRC-32 and length."""

    data: bytes
    crc: int
    size: int


def deflate_head(head: bytes, level: int) -> Deflated:
    compressor = zlib.compressobj(level, zlib.DEFLATED, RAW_DEFLATE)
    data = compressor.compress(head) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Deflated(data, zlib.crc32(head), len(head))


def gzip_with(head: Deflated, tail: bytes) -> bytes:
    """One gzip member of the head's bytes followed by `tail`."""
    crc = zlib.crc32(tail, head.crc)
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, (head.size + len(tail)) & 0xFFFFFFFF)
    if len(tail) <= STORED_MAX:  # a hit's tail: one block
        return GZIP_HEADER + head.data + _stored(tail, final=True) + trailer
    starts = range(0, len(tail), STORED_MAX)
    blocks = (_stored(tail[i : i + STORED_MAX], final=i == starts[-1]) for i in starts)
    return GZIP_HEADER + head.data + b"".join(blocks) + trailer


def _stored(data: bytes, final: bool) -> bytes:
    """`data` (at most 65,535 bytes) as a stored deflate block: BFINAL, BTYPE=00 and padding to
    the byte boundary (the head ends on one), LEN and its one's complement, the bytes."""
    size = len(data)
    return struct.pack("<BHH", 1 if final else 0, size, size ^ 0xFFFF) + data


def brotli_head(head: bytes, quality: int) -> bytes:
    """A brotli stream of `head`, flushed (byte-aligned) and not finished."""
    compressor = brotli.Compressor(quality=quality)
    data: bytes = compressor.process(head) + compressor.flush()
    return data


def brotli_with(head: bytes, tail: bytes) -> bytes:
    """The brotli stream of the head's bytes followed by `tail`, finished."""
    if len(tail) <= UNCOMPRESSED_MAX:  # a hit's tail: one block
        return head + _uncompressed(tail) + LAST_EMPTY
    blocks = (
        _uncompressed(tail[i : i + UNCOMPRESSED_MAX]) for i in range(0, len(tail), UNCOMPRESSED_MAX)
    )
    return head + b"".join(blocks) + LAST_EMPTY


def _uncompressed(data: bytes) -> bytes:
    """`data` (at most 65,536 bytes) as an uncompressed meta-block; nothing for no data (a
    meta-block holds at least one byte)."""
    if not data:
        return b""
    return (UNCOMPRESSED | ((len(data) - 1) << 3)).to_bytes(3, "little") + data
