"""Which content coding a response is sent in: Accept-Encoding weighed by its q-values.

RFC 9110 §12.5.3: each coding the client lists carries a weight (q, 0..1, 1 when absent); q=0
means "not acceptable"; `*` stands for every coding not listed by name; `identity` (no coding) is
acceptable unless excluded. The server picks, among the codings it offers, the one of highest
weight, and on a tie its own preference (the order offered: brotli before gzip). The identity
wins only when the client weighs it strictly higher than every offered coding, or accepts none
of them: then the answer is sent as it is (never 406: an API answer without coding is better
than none, as RFC 9110 allows). No header, or an empty one, means no coding.
"""

from __future__ import annotations

import math
from functools import lru_cache

from starlette.types import Scope

BROTLI = "br"
GZIP = "gzip"
IDENTITY = "identity"
CODINGS = (BROTLI, GZIP)  # what the server knows how to send, in its default preference
ALIASES = {"x-gzip": GZIP}  # RFC 9110 §8.4.1.3: x-gzip is gzip


def accept_encoding(scope: Scope) -> str:
    """The request's Accept-Encoding, its field lines joined as one list (RFC 9110 §5.3)."""
    values: list[bytes] = [v for k, v in scope["headers"] if k == b"accept-encoding"]
    if len(values) == 1:  # the usual case, without a join
        return values[0].decode("latin-1")
    return b",".join(values).decode("latin-1")


@lru_cache(maxsize=512)  # clients send few distinct headers; a miss is a parse, bounded by it
def negotiate(accept: str, offered: tuple[str, ...]) -> str:
    """The coding of `offered` (in the server's order of preference) to answer `accept` in,
    or IDENTITY."""
    weights = _weights(accept)
    if not weights:
        return IDENTITY
    wildcard = weights.get("*", 0.0)
    best, best_q = IDENTITY, 0.0
    for coding in offered:
        q = weights.get(coding, wildcard)
        if q > best_q:  # strictly: on a tie the coding offered first stays
            best, best_q = coding, q
    if best == IDENTITY:
        return IDENTITY
    # Not listed by name nor by `*`, the identity ranks below every acceptable coding.
    identity_q = weights.get(IDENTITY, weights.get("*", 0.0))
    return IDENTITY if identity_q > best_q else best


def _weights(accept: str) -> dict[str, float]:
    """Each listed coding (lower case) and its weight; a coding listed twice keeps the lower,
    so one the client excluded anywhere stays excluded."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        name, _, params = item.partition(";")
        coding = name.strip().lower()
        if not coding:
            continue
        coding = ALIASES.get(coding, coding)
        q = _weight(params)
        weights[coding] = min(q, weights.get(coding, q))
    return weights


def _weight(params: str) -> float:
    """The q of a coding's parameters: 1 when absent; 0 (not acceptable) when malformed or
    outside 0..1, so that a header the server cannot read never gets a coding it did not ask for."""
    for param in params.split(";"):
        key, equals, value = param.partition("=")
        if key.strip().lower() != "q":
            continue
        if not equals:
            return 0.0
        try:
            q = float(value.strip())
        except ValueError:
            return 0.0
        return q if math.isfinite(q) and 0.0 <= q <= 1.0 else 0.0
    return 1.0
