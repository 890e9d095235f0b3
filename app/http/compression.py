"""gzip for responses whose head is stored: compressed once, completed per request by its tail.

A response-cache hit is the stored body with the caller's own `extensions.cost` appended, so
its bytes differ on every request. The stored part is deflated once, up to a sync point (a byte
boundary, no final block), when the entry is written; a hit deflates only its few tail bytes as
the final block and wraps both in one gzip member, whose CRC-32 continues from the stored
part's. Any gzip decoder reads the result as one stream.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

# Magic, deflate, no flags, no modification time, no extra flags, unknown OS (RFC 1952).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
RAW_DEFLATE = -zlib.MAX_WBITS  # deflate blocks with no zlib or gzip wrapper


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


def gzip_with(head: Deflated, tail: bytes, level: int) -> bytes:
    """One gzip member of the head's bytes followed by `tail`."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, RAW_DEFLATE)
    end = compressor.compress(tail) + compressor.flush()
    crc = zlib.crc32(tail, head.crc)
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, (head.size + len(tail)) & 0xFFFFFFFF)
    return GZIP_HEADER + head.data + end + trailer


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (by name or `*`) with a non-zero q."""
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        if name.strip() not in ("gzip", "*"):
            continue
        q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        try:
            return float(q) > 0
        except ValueError:
            return False
    return False
